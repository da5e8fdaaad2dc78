package ocr

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ocrstack/ocrstack/ocr-worker/internal/tess"
)

// collector gathers the pages of one read into its Document.
type collector struct {
	o Options
	// multi: the input is a multi-page document, whose Document lists its
	// pages.
	multi bool
	doc   Document
	texts []string
	hocr  []string
	tsv   strings.Builder
}

// add appends page p, read as r (only its Text when p came from a text
// layer).
func (c *collector) add(p Page, r Reading) {
	if c.multi {
		c.doc.Pages = append(c.doc.Pages, p)
	}
	c.texts = append(c.texts, p.Text)
	c.doc.Words = append(c.doc.Words, r.Words...)
	c.doc.Lines = append(c.doc.Lines, r.Lines...)
	if r.HOCR != "" {
		c.hocr = append(c.hocr, r.HOCR)
	}
	c.tsv.WriteString(r.TSV)
}

// done returns the Document: the pages' texts joined with a form feed (as
// pdftotext does), and the hOCR and TSV documents when asked for.
func (c *collector) done() Document {
	c.doc.Text = strings.Join(c.texts, "\f")
	if c.o.HOCR {
		c.doc.HOCR = hocrDocument(c.hocr)
	}
	if c.o.TSV {
		c.doc.TSV = tess.TSVHeader + c.tsv.String()
	}
	return c.doc
}

// hocrDocument wraps ocr_page divs in the document Tesseract's own hOCR
// renderer writes around them.
func hocrDocument(pages []string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title></title>
  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name='ocr-system' content='tesseract' />
  <meta name='ocr-capabilities' content='ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf'/>
 </head>
 <body>
`)
	for _, p := range pages {
		b.WriteString(p)
	}
	b.WriteString(" </body>\n</html>\n")
	return b.String()
}

// shrink turns the positions in r, read from an image enlarged scale
// times, into positions in the original image: boxes, hOCR bounding boxes,
// baselines and font sizes, and TSV's left, top, width and height.
func shrink(r *Reading, scale int) {
	for _, bs := range [][]Box{r.Words, r.Lines} {
		for i := range bs {
			b := &bs[i].Box
			b.Left, b.Top, b.Right, b.Bottom = b.Left/scale, b.Top/scale, ceilDiv(b.Right, scale), ceilDiv(b.Bottom, scale)
		}
	}
	r.HOCR = hocrBBox.ReplaceAllStringFunc(r.HOCR, func(m string) string {
		f := strings.Fields(m)
		return fmt.Sprintf("bbox %d %d %d %d", atoi(f[1])/scale, atoi(f[2])/scale, ceilDiv(atoi(f[3]), scale), ceilDiv(atoi(f[4]), scale))
	})
	r.HOCR = hocrBaseline.ReplaceAllStringFunc(r.HOCR, func(m string) string {
		f := strings.Fields(m)
		return fmt.Sprintf("baseline %s %d", f[1], atoi(f[2])/scale)
	})
	r.HOCR = hocrSize.ReplaceAllStringFunc(r.HOCR, func(m string) string {
		f := strings.Fields(m)
		v, _ := strconv.ParseFloat(f[1], 64)
		return f[0] + " " + strconv.FormatFloat(v/float64(scale), 'f', 2, 64)
	})
	if r.TSV != "" {
		rows := strings.Split(strings.TrimSuffix(r.TSV, "\n"), "\n")
		for i, row := range rows {
			cols := strings.Split(row, "\t")
			if len(cols) < 10 {
				continue
			}
			for c := 6; c <= 9; c++ { // left, top, width, height
				if c < 8 {
					cols[c] = strconv.Itoa(atoi(cols[c]) / scale)
				} else {
					cols[c] = strconv.Itoa(ceilDiv(atoi(cols[c]), scale))
				}
			}
			rows[i] = strings.Join(cols, "\t")
		}
		r.TSV = strings.Join(rows, "\n") + "\n"
	}
}

// Positions in Tesseract's hOCR titles.
var (
	hocrBBox     = regexp.MustCompile(`bbox -?\d+ -?\d+ -?\d+ -?\d+`)
	hocrBaseline = regexp.MustCompile(`baseline -?[\d.]+ -?\d+`)
	hocrSize     = regexp.MustCompile(`x_(?:size|descenders|ascenders) [\d.]+`)
)

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
