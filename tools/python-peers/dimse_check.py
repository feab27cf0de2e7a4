"""Drives Kizuna's DIMSE side with pynetdicom, an independent DICOM network peer (used by the
tests).

usage: dimse_check.py PORT FILE...

C-ECHO, C-STORE of the files, C-FIND at study and series level, and C-GET of the series back
(the requester acting as a storage SCP on the association); prints one JSON object of what it
saw, for the test to check.
"""
import json
import sys

from pydicom import dcmread
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)


def main():
    port, files = int(sys.argv[1]), sys.argv[2:]
    sent = [dcmread(f) for f in files]
    out = {}
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(Verification)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    # The files' own transfer syntax, so what pydicom sends is the files' data sets.
    ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian])
    got = []

    def on_store(event):
        got.append((event.request.AffectedSOPInstanceUID, event.request.DataSet.getvalue()))
        return 0x0000

    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title="KIZUNA",
        ext_neg=[build_role(CTImageStorage, scu_role=True, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    out["established"] = assoc.is_established
    out["echo"] = assoc.send_c_echo().Status
    out["store"] = [assoc.send_c_store(ds).Status for ds in sent]

    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.PatientID = sent[0].PatientID
    q.StudyInstanceUID = ""
    q.NumberOfStudyRelatedInstances = ""
    studies = [
        (status.Status, str(ident.StudyInstanceUID), int(ident.NumberOfStudyRelatedInstances))
        for status, ident in assoc.send_c_find(q, StudyRootQueryRetrieveInformationModelFind)
        if ident is not None
    ]
    out["studies"] = [[hex(s), uid == sent[0].StudyInstanceUID, n] for s, uid, n in studies]

    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = sent[0].StudyInstanceUID
    q.SeriesInstanceUID = ""
    q.Modality = ""
    series = [
        (str(ident.SeriesInstanceUID), str(ident.Modality))
        for status, ident in assoc.send_c_find(q, StudyRootQueryRetrieveInformationModelFind)
        if ident is not None
    ]
    out["series"] = [[uid == sent[0].SeriesInstanceUID, m] for uid, m in series]

    q = Dataset()
    q.QueryRetrieveLevel = "SERIES"
    q.StudyInstanceUID = sent[0].StudyInstanceUID
    q.SeriesInstanceUID = sent[0].SeriesInstanceUID
    finals = [status.Status for status, _ in assoc.send_c_get(q, StudyRootQueryRetrieveInformationModelGet)]
    out["get_final"] = finals[-1] if finals else None
    # The data sets as sent in the files (after their meta information), byte for byte.
    by_uid = {}
    for f, ds in zip(files, sent):
        with open(f, "rb") as fp:
            read_preamble(fp, False)
            _read_file_meta_info(fp)
            by_uid[ds.SOPInstanceUID] = fp.read()
    out["got"] = len(got)
    out["got_equal"] = sum(1 for uid, raw in got if by_uid.get(uid) == raw)
    assoc.release()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
