package tess

// #include <malloc.h>
import "C"

// CHeapInUse returns the bytes glibc's allocator has handed out and not
// had back: Tesseract's and Leptonica's memory, which Go's runtime does not
// see.
func CHeapInUse() int64 {
	m := C.mallinfo2()
	return int64(m.uordblks) + int64(m.hblkhd)
}
