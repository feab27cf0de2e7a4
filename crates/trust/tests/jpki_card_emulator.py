#!/usr/bin/env python3
"""A My Number card's JPKI authentication application, emulated for the PC/SC test.

There is no card reader on CI machines, so this program plays the card's part behind a real
PC/SC stack: it connects to the virtual reader driver `vpcd` (Debian's vsmartcard-vpcd, loaded
by the real pcscd) and answers the command APDUs that kizuna's `jpki` module sends through
libpcsclite. It implements the commands as the JPKI application answers them: SELECT of the
application and of its files, READ BINARY of the authentication certificate (padded with 0xFF
past the DER, as on the card), VERIFY of the 4-digit authentication PIN with a retry counter
that locks after three wrong PINs (63Cx, then 6984), and COMPUTE DIGITAL SIGNATURE over a
SHA-256 DigestInfo with RSA PKCS#1 v1.5 (python3-cryptography does the RSA).

vpcd protocol: each message is a 2-byte big-endian length then the bytes; 1-byte messages are
control codes (0 power off, 1 power on, 2 reset, 4 send the ATR).

usage: jpki_card_emulator.py PORT CERT.der KEY.pem PIN [--not-jpki]
"""

import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, utils

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_CERT, EF_PIN, EF_KEY = b"\x00\x0a", b"\x00\x18", b"\x00\x17"
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
# T=1, no historical bytes: TS 3B, T0 80, TD1 80, TD2 01, TCK 01.
ATR = bytes.fromhex("3B80800101")
OK = b"\x90\x00"


class JpkiCard:
    def __init__(self, cert, key, pin, jpki=True):
        self.cert_file = cert + b"\xff" * (2048 - len(cert)) if len(cert) < 2048 else cert
        self.key = key
        self.pin = pin.encode()
        self.jpki = jpki
        self.tries = 3
        self.reset()

    def reset(self):
        self.in_app = False
        self.ef = None
        self.verified = False

    def execute(self, apdu):
        if len(apdu) < 4:
            return b"\x67\x00"
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        data, le = b"", None
        if len(body) == 1:
            le = body[0] or 256
        elif len(body) > 1:
            lc = body[0]
            data = body[1 : 1 + lc]
            if len(data) != lc:
                return b"\x67\x00"
            rest = body[1 + lc :]
            if rest:
                le = rest[0] or 256
        if cla == 0x00 and ins == 0xA4:
            return self.select(p1, data)
        if cla == 0x00 and ins == 0xB0:
            return self.read_binary((p1 << 8) | p2, le or 256)
        if cla == 0x00 and ins == 0x20:
            return self.verify(data)
        if cla == 0x80 and ins == 0x2A:
            return self.sign(data)
        return b"\x6d\x00"

    def select(self, p1, data):
        if p1 == 0x04:
            if self.jpki and data == JPKI_AID:
                self.in_app, self.ef, self.verified = True, None, False
                return OK
            return b"\x6a\x82"
        if p1 == 0x02 and self.in_app and data in (EF_CERT, EF_PIN, EF_KEY):
            self.ef = data
            return OK
        return b"\x6a\x82"

    def read_binary(self, offset, le):
        if self.ef != EF_CERT:
            return b"\x69\x86"
        if offset >= len(self.cert_file):
            return b"\x6b\x00"
        return self.cert_file[offset : offset + le] + OK

    def verify(self, pin):
        if self.ef != EF_PIN:
            return b"\x69\x86"
        if self.tries == 0:
            return b"\x69\x84"
        if not pin:
            return bytes([0x63, 0xC0 | self.tries])
        if pin == self.pin:
            self.tries, self.verified = 3, True
            return OK
        self.tries -= 1
        self.verified = False
        return bytes([0x63, 0xC0 | self.tries])

    def sign(self, data):
        if self.ef != EF_KEY:
            return b"\x69\x86"
        if not self.verified:
            return b"\x69\x82"
        if len(data) != 51 or not data.startswith(SHA256_DIGEST_INFO):
            return b"\x6a\x80"
        sig = self.key.sign(data[19:], padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return sig + OK


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        part = sock.recv(n - len(out))
        if not part:
            raise EOFError
        out += part
    return out


def main():
    port, cert_path, key_path, pin = sys.argv[1:5]
    jpki = "--not-jpki" not in sys.argv[5:]
    with open(cert_path, "rb") as f:
        cert = f.read()
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    card = JpkiCard(cert, key, pin, jpki)
    deadline = time.time() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", int(port)))
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("vpcd is not listening: is pcscd running with vsmartcard-vpcd?")
            time.sleep(0.2)
    while True:
        try:
            (size,) = struct.unpack("!H", recv_exact(sock, 2))
            msg = recv_exact(sock, size)
        except EOFError:
            return
        if size == 1:
            if msg[0] == 4:
                sock.sendall(struct.pack("!H", len(ATR)) + ATR)
            elif msg[0] in (0, 2):
                card.reset()
            continue
        answer = card.execute(msg)
        sock.sendall(struct.pack("!H", len(answer)) + answer)


if __name__ == "__main__":
    main()
