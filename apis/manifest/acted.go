package manifest

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/apis/resources"
)

// UnactedFields walks a decoded manifest and returns one warning for each
// outermost field that is present but not in res.Acted. Paths in Acted look
// like "spec.containers[].image"; a path covers everything below it, and a
// trailing ".*" says so explicitly.
func UnactedFields(res *resources.Resource, tree any) []string {
	root, ok := tree.(map[string]any)
	if !ok {
		return nil
	}
	acted := make([]string, 0, len(res.Acted))
	for _, a := range res.Acted {
		acted = append(acted, strings.TrimSuffix(a, ".*"))
	}
	var warnings []string
	for _, k := range sortedKeys(root) {
		switch k {
		case "apiVersion", "kind", "status":
			continue
		}
		walk(root[k], k, k, acted, &warnings)
	}
	return warnings
}

func walk(v any, pattern, display string, acted []string, warnings *[]string) {
	if isNull(v) {
		return
	}
	if covered(pattern, acted) {
		return
	}
	if !partial(pattern, acted) {
		*warnings = append(*warnings, fmt.Sprintf("%s: accepted, but skiff does not act on this field yet", display))
		return
	}
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			walk(t[k], pattern+"."+k, display+"."+k, acted, warnings)
		}
	case []any:
		for i, item := range t {
			walk(item, pattern+"[]", fmt.Sprintf("%s[%d]", display, i), acted, warnings)
		}
	}
}

func isNull(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

func covered(p string, acted []string) bool {
	for _, a := range acted {
		if p == a || strings.HasPrefix(p, a+".") || strings.HasPrefix(p, a+"[]") {
			return true
		}
	}
	return false
}

func partial(p string, acted []string) bool {
	for _, a := range acted {
		if strings.HasPrefix(a, p+".") || strings.HasPrefix(a, p+"[]") {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var allActedCache sync.Map // *resources.Resource -> bool

// allActed reports whether skiff acts on every field res's type has, so that
// no manifest of the kind can draw a warning and decoding may skip looking.
func allActed(res *resources.Resource) bool {
	if v, ok := allActedCache.Load(res); ok {
		return v.(bool)
	}
	acted := make([]string, 0, len(res.Acted))
	for _, a := range res.Acted {
		acted = append(acted, strings.TrimSuffix(a, ".*"))
	}
	t := reflect.TypeOf(res.New())
	all := typeCovered(t, "", acted, 0)
	allActedCache.Store(res, all)
	return all
}

// typeCovered walks the JSON fields of t (a struct, or a pointer to one)
// and reports whether each is covered by acted.
func typeCovered(t reflect.Type, prefix string, acted []string, depth int) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || depth > 12 {
		return false
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			if !typeCovered(f.Type, prefix, acted, depth+1) {
				return false
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if prefix == "" && (name == "apiVersion" || name == "kind" || name == "status") {
			continue
		}
		if covered(path, acted) {
			continue
		}
		if !partial(path, acted) {
			return false
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			if !typeCovered(ft, path, acted, depth+1) {
				return false
			}
		case reflect.Slice:
			if !typeCovered(ft.Elem(), path+"[]", acted, depth+1) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
