package envvars

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": "", "DOLLAR": "$"}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(A)$(B)", "ab"},
		{"$(EMPTY)", ""},
		{"$(DOLLAR)(A)", "$(A)"}, // a value is not expanded again
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$(A)$(UNKNOWN)", "a$(UNKNOWN)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$$$(A)", "$$(A)"},
		{"$$", "$"},
		{"$$$", "$$"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"${A}", "${A}"},
		{"$()", "$()"},
		{"$(A", "$(A"},
		{"$(A$$", "$(A$"},
		{"$(A$(B)", "$(A$(B)"}, // the name is "A$(B", unknown
		{"$(A)$(B", "a$(B"},
		{"100$", "100$"},
		{"$(A)-$$-$(B)", "a-$-b"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, lookup); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
