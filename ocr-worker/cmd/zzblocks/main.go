package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/tess"
)

func main() {
	api, err := tess.New(os.Args[2])
	if err != nil {
		panic(err)
	}
	img, _ := os.ReadFile(os.Args[1])
	if err := api.SetImage(img); err != nil {
		panic(err)
	}
	if err := api.Recognize(time.Now().Add(time.Minute)); err != nil {
		panic(err)
	}
	bs, _ := api.Boxes(tess.Block)
	for i, b := range bs {
		t := strings.ReplaceAll(b.Text, "\n", " ")
		if len(t) > 50 {
			t = t[:50]
		}
		fmt.Printf("%2d x %4d-%4d y %4d-%4d  %q\n", i, b.Left, b.Right, b.Top, b.Bottom, t)
	}
}
