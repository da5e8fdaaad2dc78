package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"slices"
)

// hashVersion starts every RequestHash, so a change of the encoding
// never equates requests hashed the old way with new ones.
const hashVersion = "ocr-request-v1"

// RequestHash is the SHA-256, in hex, of what an OCR request asks for:
// the image bytes and the options that decide its result, by name. It is
// canonical: the order of the fields map does not matter, a field with no
// values equals an absent one, and every name and value is
// length-prefixed, so no two different requests encode alike (["a,b"]
// differs from ["a","b"]). The order of one field's values does matter
// (the first language is the primary one).
//
// Pass options as the job will run them, defaults applied, so two
// spellings of one request (a default left out or given) hash alike:
//
//	RequestHash(img, map[string][]string{"languages": langs, "psm": {strconv.Itoa(psm)}})
func RequestHash(image []byte, fields map[string][]string) string {
	h := sha256.New()
	writeString(h, hashVersion)
	writeBytes(h, image)
	return sumFields(h, fields)
}

// RequestHashReader is RequestHash of the size bytes r holds, for an image
// that is not in memory (one streamed to the object store). It fails when
// r holds another number of bytes.
func RequestHashReader(r io.Reader, size int64, fields map[string][]string) (string, error) {
	h := sha256.New()
	writeString(h, hashVersion)
	writeLen(h, int(size))
	if n, err := io.Copy(h, r); err != nil || n != size {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return sumFields(h, fields), nil
}

// sumFields writes fields, canonically, after the image and returns the
// hash in hex.
func sumFields(h hash.Hash, fields map[string][]string) string {
	names := make([]string, 0, len(fields))
	for name, values := range fields {
		if len(values) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		writeString(h, name)
		writeLen(h, len(fields[name]))
		for _, v := range fields[name] {
			writeString(h, v)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeLen(h hash.Hash, n int) {
	var b [binary.MaxVarintLen64]byte
	h.Write(b[:binary.PutUvarint(b[:], uint64(n))])
}

func writeBytes(h hash.Hash, p []byte) {
	writeLen(h, len(p))
	h.Write(p)
}

func writeString(h hash.Hash, s string) {
	writeLen(h, len(s))
	h.Write([]byte(s))
}
