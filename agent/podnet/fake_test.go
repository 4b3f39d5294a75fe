package podnet

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestFakeDistinctIPs(t *testing.T) {
	ctx := context.Background()
	f := NewFake("10.42.7.0/29") // .1 gateway, .2-.6 pods, .7 broadcast
	seen := map[string]string{}
	for i := range 5 {
		id := fmt.Sprintf("node-a-pod%d", i)
		a, err := f.Setup(ctx, id, SetupOptions{})
		if err != nil {
			t.Fatalf("setup %s: %v", id, err)
		}
		if want := fmt.Sprintf("10.42.7.%d", i+2); a.IP.String() != want {
			t.Errorf("%s got %s, want %s", id, a.IP, want)
		}
		if other, dup := seen[a.IP.String()]; dup {
			t.Errorf("%s and %s share %s", id, other, a.IP)
		}
		seen[a.IP.String()] = id
		if a.ID != id || a.Interface != "eth0" || a.NetNSPath != FakeNetNSDir+"/"+id {
			t.Errorf("attachment %+v", a)
		}
	}
	if _, err := f.Setup(ctx, "node-a-pod5", SetupOptions{}); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("setup in a full subnet: %v, want ErrNoAddress", err)
	}
	// A freed address is handed out again.
	if err := f.Teardown(ctx, "node-a-pod1", nil); err != nil {
		t.Fatal(err)
	}
	a, err := f.Setup(ctx, "node-a-pod5", SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.IP.String() != "10.42.7.3" {
		t.Errorf("reuse got %s, want 10.42.7.3", a.IP)
	}
	if n := len(f.Attachments()); n != 5 {
		t.Errorf("%d attachments, want 5", n)
	}
}

func TestFakeDuplicateID(t *testing.T) {
	ctx := context.Background()
	f := NewFake("")
	a, err := f.Setup(ctx, "n1-uid", SetupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Setup(ctx, "n1-uid", SetupOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate setup: %v, want ErrExists", err)
	}
	got := f.Attachments()
	if len(got) != 1 || !got[0].IP.Equal(a.IP) {
		t.Fatalf("after the duplicate: %+v, want only %s", got, a.IP)
	}
}

func TestFakeTeardownAndGC(t *testing.T) {
	ctx := context.Background()
	f := NewFake("")
	for _, id := range []string{"a", "b", "c"} {
		if _, err := f.Setup(ctx, id, SetupOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Teardown(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Teardown(ctx, "a", nil); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	if err := f.GC(ctx, func(id string) bool { return id == "c" }); err != nil {
		t.Fatal(err)
	}
	got := f.Attachments()
	if len(got) != 1 || got[0].ID != "c" {
		t.Fatalf("after GC: %+v, want only c", got)
	}
	if f.Setups() != 3 {
		t.Errorf("Setups() = %d, want 3", f.Setups())
	}
}

func TestFakeInjectedErrorsAndValidation(t *testing.T) {
	ctx := context.Background()
	f := NewFake("")
	boom := errors.New("boom")
	f.SetupErr = func(id string) error {
		if id == "bad" {
			return boom
		}
		return nil
	}
	if _, err := f.Setup(ctx, "bad", SetupOptions{}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if len(f.Attachments()) != 0 {
		t.Fatal("a failed setup left an attachment")
	}
	for _, tc := range []struct {
		id   string
		opts SetupOptions
	}{
		{"", SetupOptions{}},
		{"../etc", SetupOptions{}},
		{"a/b", SetupOptions{}},
		{".hidden", SetupOptions{}},
		{"ok", SetupOptions{Labels: map[string]string{"K": "a;b"}}},
		{"ok", SetupOptions{PortMappings: []PortMapping{{HostPort: 0, ContainerPort: 80}}}},
		{"ok", SetupOptions{PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "icmp"}}}},
		{"ok", SetupOptions{PortMappings: []PortMapping{{HostPort: 80, ContainerPort: 80, HostIP: "nope"}}}},
	} {
		if _, err := f.Setup(ctx, tc.id, tc.opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("Setup(%q, %+v) = %v, want ErrInvalid", tc.id, tc.opts, err)
		}
	}
}
