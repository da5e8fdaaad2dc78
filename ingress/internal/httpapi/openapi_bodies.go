package httpapi

import (
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/ocrstack/ocrstack/contracts"
)

// optionMembers are the recognition options, as form fields or as the
// members of a JSON body: v1JSON's members but the image and the callback,
// so that an option added there is documented with its type even before
// optionDocs describes it.
func (b *specBuilder) optionMembers(form bool) map[string]*jsonSchema {
	members := b.gen.inline(reflect.TypeFor[v1JSON]()).Properties
	delete(members, "image")
	delete(members, "callbackUrl")
	for name := range members {
		if form {
			members[name] = &jsonSchema{Type: "string"}
		}
	}
	b.refine(members, optionDocs(form))
	return members
}

// optionDocs describes the recognition options.
func optionDocs(form bool) map[string]*jsonSchema {
	var modes []any
	for m := contracts.PageSegModeMin; m <= contracts.PageSegModeMax; m++ {
		if m == 2 { // parseOptions refuses it: Tesseract's OSD without OCR
			continue
		}
		if form {
			modes = append(modes, itoa(m))
		} else {
			modes = append(modes, m)
		}
	}
	psm := &jsonSchema{Type: "integer", Enum: modes,
		Description: "Tesseract's page segmentation mode, such as 6 for one block, 7 for one line or 11 for sparse text; by default the page is segmented automatically."}
	orientation := &jsonSchema{Type: "boolean",
		Description: "Whether to detect a page lying on its side or upside down and read it upright; by default it is detected unless pageSegMode is given."}
	if form {
		psm.Type = "string"
		orientation.Type, orientation.Enum = "string", []any{"true", "false"}
	}
	code := fmt.Sprintf("[A-Za-z0-9_]{1,%d}", maxLanguageLen)
	output := "(" + strings.Join(contracts.Outputs, "|") + ")"
	return map[string]*jsonSchema{
		"languages": {Type: "string", Pattern: fmt.Sprintf(`^\s*%s(\+%s){0,%d}\s*$`, code, code, maxLanguages-1), Examples: []any{"eng+spa"},
			Description: fmt.Sprintf("Up to %d distinct Tesseract language codes joined with +; each must be installed on every OCR worker.", maxLanguages)},
		"pageSegMode": psm,
		"whitelist": {Type: "string", MaxLength: new(contracts.MaxWhitelist), Examples: []any{"0123456789"},
			Description: fmt.Sprintf("Only these characters are recognised: at most %d bytes of printable characters.", contracts.MaxWhitelist)},
		"output": {Type: "string", Pattern: `^\s*` + output + `\s*(,\s*` + output + `\s*)*$`, Examples: []any{"text,words"},
			Description: "A comma-separated list of " + strings.Join(contracts.Outputs, ", ") +
				", each at most once: the result then carries words and lines as TextBox lists, and hocr and tsv as documents. The text is always given."},
		"pages": {Type: "string", MaxLength: new(4 * contracts.MaxDocumentPages), Examples: []any{"1-3,7"},
			Description: fmt.Sprintf("The pages of a multi-page document to read: page numbers and ranges from 1 to %d; by default every page. "+
				"A page the document lacks is a 422 PAGE_OUT_OF_RANGE.", contracts.MaxDocumentPages)},
		"detectOrientation": orientation,
	}
}

// requestBodies adds the request bodies of the OCR and sign-up routes.
func (b *specBuilder) requestBodies() {
	rb := b.doc.Components.RequestBodies
	file := func(doc string) *jsonSchema {
		return &jsonSchema{Type: "string", ContentMediaType: "application/octet-stream", Description: doc + " At most " + mib(b.cfg.MaxImageBytes) + "."}
	}
	form := func(part string, extra map[string]*jsonSchema) *jsonSchema {
		props := b.optionMembers(true)
		props[part] = file("The image or document, as a file part.")
		maps.Copy(props, extra)
		return &jsonSchema{Type: "object", Properties: props, Required: []string{part}}
	}
	base64Doc := "The image or document in base64, standard or URL-safe, padded or not, or as a data: URL. " +
		"It is decoded as it arrives, so it may be as large as the image limit allows; it may be given once, " +
		"and the other members may take at most 64 KiB in all."
	rb["Signup"] = &oaRequestBody{Required: true, Content: jsonContent(&jsonSchema{Type: "object", Required: []string{"email"},
		Properties: map[string]*jsonSchema{
			"email": {Type: "string", Format: "email", MaxLength: new(254), Description: "A plain address such as ada@example.com: the key's owner."},
			"name":  {Type: "string", MaxLength: new(200)},
		}})}
	rb["Upload"] = &oaRequestBody{Required: true, Content: map[string]*oaMedia{"multipart/form-data": {Schema: form("sampleFile", nil)}}}
	uploadBase64 := &jsonSchema{Type: "object", Required: []string{"imageBase64"}, Properties: b.optionMembers(false)}
	uploadBase64.Properties["imageBase64"] = &jsonSchema{Type: "string", Description: base64Doc}
	rb["UploadBase64"] = &oaRequestBody{Required: true, Content: jsonContent(uploadBase64)}
	rb["PicToTextOCR"] = &oaRequestBody{Required: true, Content: map[string]*oaMedia{"multipart/form-data": {Schema: form("image", map[string]*jsonSchema{
		"documentType": {Type: "string", MaxLength: new(64), Description: "A label echoed in the result, such as receipt."},
	})}}}

	// The /v1 JSON body is v1JSON, decoded strictly: its members are the
	// type's, and no other.
	callback := &jsonSchema{Type: "string", Format: "uri", MaxLength: new(maxCallbackURL),
		Description: "An http or https URL, without credentials, that the job's final state (V1Job) is POSTed to, signed with X-OCR-Signature; refused with CALLBACKS_DISABLED unless the server has a callback secret."}
	jobJSON := b.gen.inline(reflect.TypeFor[v1JSON]())
	members := b.optionMembers(false)
	members["image"] = &jsonSchema{Type: "string", Description: base64Doc}
	members["callbackUrl"] = callback
	b.refine(jobJSON.Properties, members)
	jobJSON.Required = []string{"image"}
	ocrJSON := *jobJSON
	ocrJSON.Properties = maps.Clone(jobJSON.Properties)
	delete(ocrJSON.Properties, "callbackUrl")
	v1Doc := `The image as a multipart/form-data file part named "image" with the options as fields, or a JSON object.`
	rb["V1OCR"] = &oaRequestBody{Required: true, Description: v1Doc, Content: map[string]*oaMedia{
		"multipart/form-data": {Schema: form("image", nil)}, "application/json": {Schema: &ocrJSON},
	}}
	rb["V1Job"] = &oaRequestBody{Required: true, Description: v1Doc, Content: map[string]*oaMedia{
		"multipart/form-data": {Schema: form("image", map[string]*jsonSchema{"callbackUrl": callback})}, "application/json": {Schema: jobJSON},
	}}
}
