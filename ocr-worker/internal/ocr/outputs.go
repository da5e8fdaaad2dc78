package ocr

import (
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
