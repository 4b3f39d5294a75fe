package manifest

import (
	"errors"
	"slices"

	jsoniter "github.com/json-iterator/go"
)

// strictIter decodes as sigs.k8s.io/json's strict mode does on input it
// accepts (case-sensitive field names, no unknown fields), in about half
// the time: every write the API takes is decoded this way, and on
// skiff-scalebench the agents' status writes spent a tenth of the
// master's CPU in the thorough decoder. Input the fast decoder refuses
// goes to the thorough one, which says why in the words users see.
var strictIter = jsoniter.Config{
	EscapeHTML:             true,
	SortMapKeys:            true,
	ValidateJsonRawMessage: true,
	CaseSensitive:          true,
	DisallowUnknownFields:  true,
}.Froze()

var errMaybeDuplicate = errors.New("a field may be given twice")

// decodeFast decodes js into obj, refusing what the strict decoder would.
// json-iterator has no duplicate-field check of its own: a scan of the
// (by then known valid) document does it after.
func decodeFast(js []byte, obj any) error {
	if err := strictIter.Unmarshal(js, obj); err != nil {
		return err
	}
	if !noDuplicateFields(js) {
		return errMaybeDuplicate
	}
	return nil
}

// noDuplicateFields scans valid JSON and reports whether every object in
// it surely names each field once. It compares the keys' hashes, and a key
// with an escape in it counts as a possible duplicate ("a" and "\u0061"
// are one name): a false alarm only sends the document to the thorough
// decoder, which decides.
func noDuplicateFields(js []byte) bool {
	type level struct {
		object bool
		keys   []uint64
	}
	var stack []level
	expectKey := false // the next string is a key of the innermost object
	for i := 0; i < len(js); i++ {
		switch js[i] {
		case '{':
			stack = append(stack, level{object: true})
			expectKey = true
		case '[':
			stack = append(stack, level{})
			expectKey = false
		case '}', ']':
			if len(stack) == 0 {
				return false // not valid JSON after all: let the thorough decoder say
			}
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			end, escaped := stringEnd(js, i+1)
			if expectKey && len(stack) > 0 {
				if escaped {
					return false
				}
				top := &stack[len(stack)-1]
				h := hashKey(js[i+1 : end])
				if slices.Contains(top.keys, h) {
					return false
				}
				top.keys = append(top.keys, h)
				expectKey = false
			}
			i = end
		}
	}
	return true
}

// stringEnd returns the index of the quote closing the string whose
// contents start at i, and whether the string holds an escape.
func stringEnd(js []byte, i int) (end int, escaped bool) {
	for ; i < len(js); i++ {
		switch js[i] {
		case '\\':
			escaped = true
			i++ // the escaped character, which may be a quote
		case '"':
			return i, escaped
		}
	}
	return len(js), escaped
}

// hashKey is FNV-1a, 64 bits.
func hashKey(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
