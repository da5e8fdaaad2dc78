package ocr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
)

// HEIF (an iPhone's HEIC photos) and AVIF are not decoded by Leptonica:
// libheif's heif-convert (Debian's libheif-examples) turns them into a JPEG
// first, applying the rotation and mirroring the file declares.

// heifBrands are the ISO-BMFF major brands of images libheif decodes.
var heifBrands = map[string]bool{
	"heic": true, "heix": true, "hevc": true, "hevx": true, "heim": true, "heis": true,
	"mif1": true, "msf1": true, "avif": true, "avis": true,
}

// isHEIF reports whether data starts with an ISO-BMFF "ftyp" box of a HEIF
// or AVIF image.
func isHEIF(data []byte) bool {
	return len(data) >= 12 && string(data[4:8]) == "ftyp" && heifBrands[string(data[8:12])]
}

// heifMaxScan bounds how far the header is searched for image sizes; the
// "meta" box holding them comes first in the files libheif and phones write.
const heifMaxScan = 1 << 16

// heifDimensions returns the largest image size ("ispe" property) declared
// in the first heifMaxScan bytes, so a file declaring a huge canvas is
// refused before anything is decoded.
func heifDimensions(data []byte) (w, h int, err error) {
	head := data[:min(len(data), heifMaxScan)]
	found := false
	for i := 0; ; {
		j := bytes.Index(head[i:], []byte("ispe"))
		if j < 0 {
			break
		}
		at := i + j
		i = at + 4
		// size(4) "ispe" version+flags(4) width(4) height(4)
		if at < 4 || at+16 > len(head) {
			continue
		}
		bw := int(binary.BigEndian.Uint32(head[at+8:]))
		bh := int(binary.BigEndian.Uint32(head[at+12:]))
		if uint64(bw)*uint64(bh) > uint64(w)*uint64(h) {
			w, h = bw, bh
		}
		found = true
	}
	if !found {
		return 0, 0, fmt.Errorf("no image size in the first %d bytes", heifMaxScan)
	}
	return w, h, nil
}

// heifToJPEG converts a HEIF or AVIF image to a JPEG with heif-convert.
func heifToJPEG(data []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "ocr-heif-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.heic"), filepath.Join(dir, "out.jpg")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		return nil, fmt.Errorf("write heif: %w", err)
	}
	if _, err := runTool("heif-convert", "libheif-examples", "-q", "95", in, out); err != nil {
		return nil, err
	}
	jpg, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("%w: heif-convert wrote no image: %w", ErrUnreadableImage, err)
	}
	return jpg, nil
}
