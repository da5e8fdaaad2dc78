// Command sampleimage writes a PNG with a few lines of English and Spanish
// text to the path given, for trying the API by hand.
package main

import (
	"fmt"
	"os"

	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sampleimage OUT.png")
		os.Exit(2)
	}
	b, err := textimage.PNG([]string{
		"OCR as a service, self-hosted.",
		"The quick brown fox jumps over the lazy dog.",
		"El veloz murcielago come kiwi.",
	}, 40)
	if err == nil {
		err = os.WriteFile(os.Args[1], b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sampleimage:", err)
		os.Exit(1)
	}
	fmt.Println(os.Args[1])
}
