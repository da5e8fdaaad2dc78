package ocr

import (
	"slices"
	"strings"
	"unicode"
)

// commonWords are frequent English and Spanish words (the default
// languages): a reading in which almost none appears was most likely made
// of a page lying on its side or upside down.
var commonWords = func() map[string]bool {
	m := map[string]bool{}
	for w := range strings.FieldsSeq(`
		the of and to a in is it you that he was for on are with as i his they be at one have this from
		or had by not but what some we can out other were all there when up use your how said an each she
		which do their time if will way about many then them would write like so these her long make thing
		see him two has look more day could go come did my no most who over know than call first people may
		down side been now find any new work part take get place made live where after back little only
		round man year came show every good me give our under name very through just form much great think
		say help low line before turn cause same mean differ move right boy old too does tell sentence set
		three want air well also play small end put home read hand port large spell add even land here must
		big high such follow act why ask men change went light kind off need house picture try us again
		animal point mother world near build self earth father head stand own page should country found
		answer school grow study still learn plant cover food sun four thought let keep eye never last door
		text test code file into its our per total date paid amount balance account
		de la que el en y a los se del las un por con no una su para es al lo como mas o pero sus le ha me
		si sin sobre este ya entre cuando todo esta ser son dos tambien fue habia era muy anos hasta desde
		esta mi porque que solo han yo hay vez puede todos asi nos ni parte tiene el uno donde bien tiempo
		mismo ese ahora cada e vida otro despues te otros aunque esa eso hace otra gobierno tan durante siempre
		dia tanto ella tres si dijo sido gran pais segun menos mundo ano antes estado contra sino forma caso
		nada hacer general estaba poco estos presidente mayor ante unos les algo hacia casa ellos ayer hecho
		primera mucho mientras ademas quien momento millones esto espana hombre estan pues hoy lugar madrid
		nacional trabajo otras mejor nuevo decir algunos entonces todas dias debe politica como tienen`) {
		m[w] = true
	}
	return m
}()

// Thresholds of the turned-page check, from the corpus: upright prose
// scores 0.26 to 0.70, a receipt 0.13, a page read upside down or sideways
// 0.07.
const (
	// turnedBelow is the wordiness under which a reading of at least
	// turnedMinWords words may come from a turned page.
	turnedBelow    = 0.2
	turnedMinWords = 5
	// minWordinessGain is how much more text-like a reading after
	// orientation detection must look to be preferred.
	minWordinessGain = 0.1
)

// mayBeTurned reports whether a reading in langs looks like one of a page
// lying on its side or upside down. Only English and Spanish can be judged
// (the common words are theirs); a tiny text is never judged.
func mayBeTurned(text string, langs []string) bool {
	if !slices.Contains(langs, "eng") && !slices.Contains(langs, "spa") {
		return false
	}
	score, words := wordiness(text)
	return words >= turnedMinWords && score < turnedBelow
}

// wordiness is the share of the words in text (letters only, lower-cased,
// accents kept apart) that are common words: near 0 for the garbage
// Tesseract reads from a rotated page, 0.3 or more for running prose.
func wordiness(text string) (score float64, words int) {
	common := 0
	for f := range strings.FieldsSeq(text) {
		w := strings.ToLower(strings.TrimFunc(f, func(r rune) bool { return !unicode.IsLetter(r) }))
		if w == "" {
			continue
		}
		words++
		if commonWords[fold(w)] {
			common++
		}
	}
	if words == 0 {
		return 0, 0
	}
	return float64(common) / float64(words), words
}

// fold drops the accents of Spanish letters, so "más" matches "mas".
func fold(w string) string {
	return strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u").Replace(w)
}
