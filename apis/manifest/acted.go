package manifest

import (
	"fmt"
	"sort"
	"strings"

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
