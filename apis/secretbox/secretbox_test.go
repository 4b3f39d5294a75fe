package secretbox

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSecretsAreSealedBelowTheAPI(t *testing.T) {
	ctx := context.Background()
	reg := resources.Default()
	inner := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg})
	kr, err := CreateKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := Wrap(inner, kr)
	nsRes, _ := reg.ByKind("Namespace")
	if _, err := s.Create(ctx, nsRes, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	res, _ := reg.ByKind("Secret")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default",
		Annotations: map[string]string{lastAppliedKey: `{"stringData":{"pw":"hunter2"}}`}}, Data: map[string][]byte{"pw": []byte("hunter2")}}
	rec, err := s.Create(ctx, res, sec)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Object().(*corev1.Secret); string(got.Data["pw"]) != "hunter2" || got.Annotations[lastAppliedKey] == "" {
		t.Fatalf("create returned %v", got)
	}
	// Below the wrapper: nothing in the clear.
	raw, err := inner.Get(ctx, res, "default", "db", true)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw.JSON(), []byte("hunter2")) || bytes.Contains(raw.JSON(), []byte("aHVudGVyMg")) {
		t.Fatalf("stored form holds the secret: %s", raw.JSON())
	}
	first := SealedWith(raw.Object())
	// Rotation: the newest key seals; old data still opens.
	if _, err := kr.Rotate(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, res, "default", "db", true)
	if err != nil || string(got.Object().(*corev1.Secret).Data["pw"]) != "hunter2" {
		t.Fatalf("read after rotation: %v %v", got, err)
	}
	upd := got.Object().DeepCopyObject().(*corev1.Secret)
	upd.ResourceVersion = ""
	if _, err := s.Update(ctx, res, upd, 0); err != nil {
		t.Fatal(err)
	}
	raw, _ = inner.Get(ctx, res, "default", "db", true)
	if SealedWith(raw.Object()) == first || SealedWith(raw.Object()) != kr.Current() {
		t.Fatalf("re-sealed with %s, want the new key %s", SealedWith(raw.Object()), kr.Current())
	}
	// Sealed data is bound to its name: copied to another Secret it does
	// not open.
	moved := raw.Object().DeepCopyObject().(*corev1.Secret)
	if _, err := kr.Open(string(moved.Data[SealedKey]), []byte("default/other")); err == nil {
		t.Fatal("sealed data opened under another name")
	}
	// A master without the key asks for it once.
	other, _ := CreateKeyring("")
	s2 := Wrap(inner, other)
	if _, err := s2.Get(ctx, res, "default", "db", true); err == nil {
		t.Fatal("read without the key succeeded")
	}
	s2.Refresh = func(context.Context) error {
		raw, err := kr.Marshal()
		if err != nil {
			return err
		}
		return other.Merge(raw)
	}
	if got, err := s2.Get(ctx, res, "default", "db", true); err != nil || string(got.Object().(*corev1.Secret).Data["pw"]) != "hunter2" {
		t.Fatalf("read after fetching the key: %v", err)
	}
	if _, err := other.Open("zz:00", nil); err == nil || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("malformed box: %v", err)
	}
}
