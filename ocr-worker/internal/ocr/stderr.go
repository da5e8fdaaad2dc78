package ocr

import (
	"fmt"
	"os"
	"syscall"
)

// SafeStderr returns a new file descriptor for the process's stderr. While
// gosseract initialises a client it points descriptor 2 at /dev/null (to
// capture Tesseract's messages); anything else written to descriptor 2 in
// that window is lost. Writes through the duplicate never are, so the
// worker logs through it.
func SafeStderr() (*os.File, error) {
	fd, err := syscall.Dup(int(os.Stderr.Fd()))
	if err != nil {
		return nil, fmt.Errorf("duplicate stderr: %w", err)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "stderr"), nil
}
