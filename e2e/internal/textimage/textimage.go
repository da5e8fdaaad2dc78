// Package textimage draws lines of text into a PNG, so tests and the sample
// for `make run` need no image files from elsewhere.
package textimage

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// PNG renders lines in Go Regular at sizePx, black on white with margins.
func PNG(lines []string, sizePx float64) ([]byte, error) {
	return render(0, 0, lines, sizePx)
}

// PagePNG renders lines like PNG on a white page of width × height pixels,
// from its top left margin; text past the page's edges is cut off.
func PagePNG(width, height int, lines []string, sizePx float64) ([]byte, error) {
	if width < 1 || height < 1 {
		return nil, fmt.Errorf("page %dx%d: want positive sides", width, height)
	}
	return render(width, height, lines, sizePx)
}

// render draws lines on a page of width × height, or on one just large
// enough for them when width is 0.
func render(width, height int, lines []string, sizePx float64) ([]byte, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: sizePx, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	defer face.Close()
	margin := int(sizePx)
	lineHeight := int(sizePx * 1.5)
	if width == 0 {
		for _, l := range lines {
			width = max(width, font.MeasureString(face, l).Ceil())
		}
		width, height = width+2*margin, len(lines)*lineHeight+2*margin
	}
	img := image.NewGray(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(margin, margin+i*lineHeight+int(sizePx))
		d.DrawString(l)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}
