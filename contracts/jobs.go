package contracts

// OCRJob is one image to recognise, published to SubjectJobs with the header
// Nats-Msg-Id set to JobID (so a retried publish is queued once). Exactly one
// of Image and ImageRef is set.
type OCRJob struct {
	// JobID is unique per job; the result arrives on ResultSubject(JobID).
	// At most 64 characters of [A-Za-z0-9_-].
	JobID     string `json:"jobId"`
	RequestID string `json:"requestId,omitempty"`
	// Producer names who submitted the job ("ingress", or an internal
	// service's name); usage is recorded under it.
	Producer string `json:"producer"`
	// KeyID and OwnerID identify the API key that pays, when there is one.
	KeyID   string `json:"keyId,omitempty"`
	OwnerID string `json:"ownerId,omitempty"`
	// Languages are Tesseract language codes; empty means eng+spa.
	Languages []string `json:"languages,omitempty"`
	// PageSegMode is Tesseract's page segmentation mode, PageSegModeMin to
	// PageSegModeMax (6: one block of text, 7: one line, 11: sparse text);
	// 0 (absent) means automatic, with turned pages detected.
	PageSegMode int `json:"pageSegMode,omitempty"`
	// Whitelist, when set, limits recognition to these characters (such as
	// "0123456789" for digits), at most MaxWhitelist bytes.
	Whitelist string `json:"whitelist,omitempty"`
	// Pages selects the pages of a multi-page document to read, as page
	// numbers and ranges from 1 ("1-3,7"; see ParsePages); empty reads
	// them all.
	Pages string `json:"pages,omitempty"`
	// DetectOrientation, when true, reads every page after Tesseract's
	// orientation detection; when false, never; absent, a page is read
	// again that way only when its first reading looks turned.
	DetectOrientation *bool `json:"detectOrientation,omitempty"`
	// Outputs lists what the result carries besides its text: any of
	// OutputWords, OutputLines, OutputHOCR and OutputTSV (OutputText is
	// always given and may be listed). All come from one recognition.
	Outputs []string `json:"outputs,omitempty"`
	// Image holds the image bytes (base64 in JSON) when they fit inline.
	Image []byte `json:"image,omitempty"`
	// ImageRef names an object in ImagesBucket holding the image.
	ImageRef string `json:"imageRef,omitempty"`
	// SubmittedAt is unix milliseconds.
	SubmittedAt int64 `json:"submittedAt"`
}

// Bounds of a job's recognition options. Mode 0 (orientation detection
// only) gives no text, and 2 is not implemented by Tesseract.
const (
	PageSegModeMin = 1
	PageSegModeMax = 13
	MaxWhitelist   = 256
)

// Outputs a job may ask for (OCRJob.Outputs).
const (
	// OutputText is the recognised text, always given.
	OutputText = "text"
	// OutputWords is each word with its box and confidence.
	OutputWords = "words"
	// OutputLines is each line with its box and confidence.
	OutputLines = "lines"
	// OutputHOCR is an hOCR document (HTML with a box per page, block,
	// line and word).
	OutputHOCR = "hocr"
	// OutputTSV is Tesseract's TSV table: one row per page, block,
	// paragraph, line and word, with a header row.
	OutputTSV = "tsv"
)

// Outputs lists every output, in the order results carry them.
var Outputs = []string{OutputText, OutputWords, OutputLines, OutputHOCR, OutputTSV}

// JobStatus is the final state of a job.
type JobStatus string

// Job statuses carried by OCRResult.
const (
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
)

// OCRResult is published once per job on ResultSubject(JobID).
type OCRResult struct {
	JobID     string    `json:"jobId"`
	RequestID string    `json:"requestId,omitempty"`
	Status    JobStatus `json:"status"`
	// Text is the recognised text when Status is succeeded.
	Text string `json:"text"`
	// Error says why when Status is failed.
	Error *Error `json:"error,omitempty"`
	// Pages holds each page of a multi-page document (a PDF, or a TIFF of
	// several pages); Text is then their texts joined with a form feed
	// ("\f"). Absent for an image.
	Pages []PageResult `json:"pages,omitempty"`
	// Words and Lines are given when the job asked for OutputWords or
	// OutputLines: every recognised word or line, in reading order, of
	// every recognised page (a PDF page read from its text layer has no
	// boxes).
	Words []TextBox `json:"words,omitempty"`
	Lines []TextBox `json:"lines,omitempty"`
	// HOCR and TSV are given when the job asked for OutputHOCR or OutputTSV,
	// covering every recognised page.
	HOCR string `json:"hocr,omitempty"`
	TSV  string `json:"tsv,omitempty"`
	// RecognitionMs is the time spent in Tesseract, in milliseconds.
	RecognitionMs int64 `json:"recognitionMs"`
	// CompletedAt is unix milliseconds.
	CompletedAt int64 `json:"completedAt"`
}

// TextBox is a recognised word or line and where it is on its page, in
// pixels of the image as recognised (after EXIF rotation; a PDF page as
// rendered at its DPI), from the top left corner.
type TextBox struct {
	// Page counts from 1.
	Page int    `json:"page"`
	Text string `json:"text"`
	// Confidence is Tesseract's, from 0 to 100.
	Confidence float64 `json:"confidence"`
	X          int     `json:"x"`
	Y          int     `json:"y"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
}

// JobProgress says how far a multi-page job has got.
type JobProgress struct {
	JobID string `json:"jobId"`
	// Page pages of Pages are done.
	Page  int `json:"page"`
	Pages int `json:"pages"`
	// At is unix milliseconds.
	At int64 `json:"at"`
}

// PageResult is one page of a multi-page document.
type PageResult struct {
	// Page counts from 1.
	Page int    `json:"page"`
	Text string `json:"text"`
	// Source says where the text came from: PageSourceTextLayer (the PDF's
	// own text, exact) or PageSourceOCR (recognised from the rendered page).
	Source string `json:"source"`
}

// Sources of a page's text.
const (
	PageSourceTextLayer = "text_layer"
	PageSourceOCR       = "ocr"
)
