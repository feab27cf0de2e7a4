"""Drives Kizuna's DICOMweb with dicomweb-client, an independent client (used by the tests).

usage: dicomweb_check.py BASE_URL FILE...

Stores the files (STOW-RS), then searches (QIDO-RS), retrieves (WADO-RS: instances,
metadata, frames, rendered) and prints one JSON object of what it found, for the test to
check.
"""
import io
import json
import sys

import pydicom
from dicomweb_client.api import DICOMwebClient


def main():
    base, files = sys.argv[1], sys.argv[2:]
    client = DICOMwebClient(url=base)
    sent = [pydicom.dcmread(f) for f in files]
    stored = client.store_instances(datasets=sent)
    out = {"referenced": len(getattr(stored, "ReferencedSOPSequence", []))}
    studies = client.search_for_studies(search_filters={"PatientID": sent[0].PatientID})
    out["studies"] = len(studies)
    study_uid = sent[0].StudyInstanceUID
    series = client.search_for_series(study_instance_uid=study_uid)
    out["series"] = len(series)
    series_uid = sent[0].SeriesInstanceUID
    instances = client.search_for_instances(
        study_instance_uid=study_uid, series_instance_uid=series_uid, limit=5, offset=2
    )
    out["instances_page"] = len(instances)
    fuzzy = client.search_for_studies(search_filters={"PatientName": "remo"}, fuzzymatching=True)
    out["fuzzy"] = len(fuzzy)
    same = 0
    for ds in sent:
        got = client.retrieve_instance(study_uid, series_uid, ds.SOPInstanceUID)
        if got == ds and got.PixelData == ds.PixelData:
            same += 1
    out["retrieved_equal"] = same
    retrieved = client.retrieve_series(study_uid, series_uid)
    out["series_retrieved"] = len(retrieved)
    meta = client.retrieve_instance_metadata(study_uid, series_uid, sent[0].SOPInstanceUID)
    out["metadata_modality"] = meta["00080060"]["Value"][0]
    frames = client.retrieve_instance_frames(study_uid, series_uid, sent[0].SOPInstanceUID, frame_numbers=[1])
    out["frame_bytes"] = len(frames[0])
    out["frame_equal"] = frames[0] == sent[0].PixelData
    image = client.retrieve_instance_rendered(
        study_uid, series_uid, sent[0].SOPInstanceUID, media_types=("image/png",)
    )
    out["rendered_png"] = image[:8] == b"\x89PNG\r\n\x1a\n"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
