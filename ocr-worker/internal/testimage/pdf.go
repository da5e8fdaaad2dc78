package testimage

import (
	"bytes"
	"fmt"
	"image"
	"testing"
)

// PDFPage is one page of a PDF built by PDF: either a text layer (Text,
// in Helvetica) or a scan (Scan, embedded as a JPEG at 150 dpi), never both.
type PDFPage struct {
	Text string
	Scan *image.Gray
}

// PDF builds a minimal PDF 1.4 file of the given pages, as a scanner or a
// word processor would write them, so tests need no PDF files.
func PDF(tb testing.TB, pages ...PDFPage) []byte {
	tb.Helper()
	var objs [][]byte // object i+1
	add := func(b []byte) int {
		objs = append(objs, b)
		return len(objs)
	}
	stream := func(dict string, data []byte) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "<< %s /Length %d >>\nstream\n", dict, len(data))
		b.Write(data)
		b.WriteString("\nendstream")
		return b.Bytes()
	}
	catalog := add(nil) // filled in once the page tree is known
	tree := add(nil)
	font := add([]byte("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"))
	var kids []int
	for i, p := range pages {
		switch {
		case p.Scan != nil:
			b := p.Scan.Bounds()
			img := add(stream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode",
				b.Dx(), b.Dy()), Encode(tb, p.Scan, JPEG)))
			w, h := float64(b.Dx())*72/150, float64(b.Dy())*72/150
			content := add(stream("", fmt.Appendf(nil, "q %.2f 0 0 %.2f 0 0 cm /Im Do Q", w, h)))
			kids = append(kids, add(fmt.Appendf(nil, "<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /XObject << /Im %d 0 R >> >> /Contents %d 0 R >>",
				tree, w, h, img, content)))
		case p.Text != "":
			content := add(stream("", fmt.Appendf(nil, "BT /F1 24 Tf 72 700 Td (%s) Tj ET", p.Text)))
			kids = append(kids, add(fmt.Appendf(nil, "<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>",
				tree, font, content)))
		default:
			tb.Fatalf("page %d: neither text nor scan", i+1)
		}
	}
	objs[catalog-1] = fmt.Appendf(nil, "<< /Type /Catalog /Pages %d 0 R >>", tree)
	var refs bytes.Buffer
	for _, k := range kids {
		fmt.Fprintf(&refs, "%d 0 R ", k)
	}
	objs[tree-1] = fmt.Appendf(nil, "<< /Type /Pages /Kids [%s] /Count %d >>", refs.String(), len(kids))

	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n", i+1)
		out.Write(o)
		out.WriteString("\nendobj\n")
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, catalog, xref)
	return out.Bytes()
}
