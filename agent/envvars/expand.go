package envvars

import "strings"

// Expand replaces each $(NAME) in s by lookup(NAME), as Kubernetes does for
// env values, command and args:
//   - "$$" is a literal "$", so "$$(NAME)" yields "$(NAME)" unexpanded;
//   - a reference lookup does not resolve stays as written;
//   - a "$" before any other character, or at the end, is kept;
//   - "$(" without a closing ")" is kept and scanning goes on after it.
func Expand(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			ref := s[i : i+3+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(ref)
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
