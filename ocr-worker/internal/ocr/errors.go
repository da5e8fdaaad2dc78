package ocr

import "errors"

// Errors for input that can never be recognised; each maps to one wire code
// in contracts. Anything else Recognize returns is an internal failure.
var (
	// ErrUnsupportedMedia: the bytes are not an image format Tesseract reads.
	ErrUnsupportedMedia = errors.New("unsupported media type")
	// ErrUnreadableImage: the format is known but the image cannot be decoded.
	ErrUnreadableImage = errors.New("unreadable image")
	// ErrImageTooLarge: the header declares more than MaxPixels pixels.
	ErrImageTooLarge = errors.New("image too large")
	// ErrUnsupportedLanguage: a language has no installed model, or is listed twice.
	ErrUnsupportedLanguage = errors.New("unsupported language")
)
