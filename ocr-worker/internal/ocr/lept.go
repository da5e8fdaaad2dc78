package ocr

// #cgo LDFLAGS: -lleptonica
// #include <stdlib.h>
// #include <leptonica/allheaders.h>
import "C"

import "unsafe"

// These helpers call Leptonica, the library that decodes images for
// Tesseract, directly, for what happens before an image reaches Tesseract.

// leptHeader returns the width and height Leptonica reads from data's
// header, without decoding the pixels. ok is false when it cannot read one.
func leptHeader(data []byte) (width, height int, ok bool) {
	if len(data) == 0 {
		return 0, 0, false
	}
	var format, w, h, bps, spp, iscmap C.l_int32
	res := C.pixReadHeaderMem((*C.l_uint8)(unsafe.Pointer(&data[0])), C.size_t(len(data)),
		&format, &w, &h, &bps, &spp, &iscmap)
	if res != 0 {
		return 0, 0, false
	}
	return int(w), int(h), true
}

// leptTIFFPage decodes page n (from 0) of a TIFF and returns it as a PNG;
// ok is false when there is no such page or it cannot be decoded.
func leptTIFFPage(data []byte, n int) (png []byte, ok bool) {
	if len(data) == 0 {
		return nil, false
	}
	pix := C.pixReadMemTiff((*C.l_uint8)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.l_int32(n))
	if pix == nil {
		return nil, false
	}
	defer C.pixDestroy(&pix)
	var out *C.l_uint8
	var size C.size_t
	if C.pixWriteMemPng(&out, &size, pix, 0) != 0 || out == nil {
		return nil, false
	}
	defer C.lept_free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(size)), true
}
