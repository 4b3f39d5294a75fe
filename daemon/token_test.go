package daemon

import (
	"errors"
	"strings"
	"testing"
)

func TestParseJoinToken(t *testing.T) {
	good, err := newJoinToken()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in      string
		wantErr error
	}{
		{good.String(), nil},
		{"  " + good.String() + "\n", nil},
		{"", ErrMalformedToken},
		{"SKIFF2-" + good.secret, ErrMalformedToken},
		{"SKIFF1-abc", ErrMalformedToken},
		{"SKIFF1-" + strings.ToUpper(good.secret), ErrMalformedToken},
		{"SKIFF1-" + strings.Repeat("z", 64), ErrMalformedToken},
	}
	for _, tc := range cases {
		tok, err := parseJoinToken(tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("parse %q: err = %v, want %v", tc.in, err, tc.wantErr)
		}
		if err == nil && !tok.matches(good.hash()) {
			t.Fatalf("parse %q: does not match its own hash", tc.in)
		}
	}
	other, _ := newJoinToken()
	if other.matches(good.hash()) || other.ID() == good.ID() {
		t.Fatal("two random tokens match")
	}
}
