package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// claimPod is a pod of the echo image on node mounting claim at /data.
func claimPod(name, node, claim string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: skiff.local/echo:1
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: %s}}
`, name, node, claim)
}

func claimManifest(name, class string) string {
	m := fmt.Sprintf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: %s}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 100Mi}}\n", name)
	if class != "" {
		m += "  storageClassName: " + class + "\n"
	}
	return m
}

func getClaim(t *testing.T, admin, name string) (*corev1.PersistentVolumeClaim, error) {
	out, errOut, ok := cli(t, admin, "", "get", "pvc", name, "-o", "json")
	if !ok {
		return nil, errors.New(errOut)
	}
	var c corev1.PersistentVolumeClaim
	return &c, json.Unmarshal([]byte(out), &c)
}

func getVolume(t *testing.T, admin, name string) (*corev1.PersistentVolume, error) {
	out, errOut, ok := cli(t, admin, "", "get", "pv", name, "-o", "json")
	if !ok {
		return nil, errors.New(errOut)
	}
	var v corev1.PersistentVolume
	return &v, json.Unmarshal([]byte(out), &v)
}

// testLocalPathClaims proves the local-path storage of issue 7 on a real
// agent: a claim is provisioned as a directory on its first pod's node,
// outlives the pod, and goes (or stays) with its claim as the reclaim
// policy says.
func testLocalPathClaims(t *testing.T, admin string, a *agentProc) {
	if out := mustCLI(t, admin, "", "get", "storageclass"); !strings.Contains(out, "local-path") || !strings.Contains(out, "WaitForFirstConsumer") || !strings.Contains(out, "yes") {
		t.Fatalf("the default storage class:\n%s", out)
	}
	mustCLI(t, admin, claimManifest("notes", ""), "apply", "-f", "-")
	if out := mustCLI(t, admin, "", "get", "pvc", "notes"); !strings.Contains(out, "Pending") || !strings.Contains(out, "local-path") {
		t.Fatalf("a new claim waits for its pod, with the default class:\n%s", out)
	}
	if _, errOut, ok := cli(t, admin, claimPod("writer", a.node, "notes"), "apply", "-f", "-"); !ok || strings.Contains(errOut, "does not act") {
		t.Fatalf("a pod mounting a claim: ok %v, stderr %q", ok, errOut)
	}
	waitFor(t, "the writer running", 60*time.Second, func() error {
		_, err := podRunningReady(t, admin, "writer")
		return err
	})
	mustCLI(t, admin, "", "exec", "writer", "--", "sh", "-c", "echo kept across pods > /data/note")
	claim, err := getClaim(t, admin, "notes")
	if err != nil || claim.Status.Phase != corev1.ClaimBound || claim.Spec.VolumeName == "" {
		t.Fatalf("claim after its pod started: %+v %v", claim, err)
	}
	pv, err := getVolume(t, admin, claim.Spec.VolumeName)
	if err != nil || pv.Spec.Local == nil || !strings.HasPrefix(pv.Spec.Local.Path, filepath.Join(a.dir, "storage")+"/") || pv.Status.Phase != corev1.VolumeBound {
		t.Fatalf("the provisioned volume: %+v %v", pv, err)
	}
	dir := pv.Spec.Local.Path
	if out := mustCLI(t, admin, "", "get", "pv", "-o", "wide"); !strings.Contains(out, a.node) || !strings.Contains(out, "default/notes") || !strings.Contains(out, "Delete") {
		t.Errorf("get pv -o wide:\n%s", out)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "note")); err != nil || string(raw) != "kept across pods\n" {
		t.Fatalf("the file on the node: %q %v", raw, err)
	}
	// The pod goes; a new one on the same node reads what it wrote.
	mustCLI(t, admin, "", "delete", "pod", "writer")
	waitFor(t, "the writer gone", 30*time.Second, func() error {
		if _, err := getPod(t, admin, "writer"); err == nil {
			return errors.New("still there")
		}
		return nil
	})
	mustCLI(t, admin, claimPod("reader", a.node, "notes"), "apply", "-f", "-")
	waitFor(t, "the reader running", 60*time.Second, func() error {
		_, err := podRunningReady(t, admin, "reader")
		return err
	})
	if out := mustCLI(t, admin, "", "exec", "reader", "--", "cat", "/data/note"); out != "kept across pods\n" {
		t.Fatalf("the replacement pod reads %q", out)
	}

	// A claim in use is only marked when deleted; it goes with its pod,
	// and its volume (policy Delete) with it, directory and all.
	mustCLI(t, admin, "", "delete", "pvc", "notes", "--wait=false")
	time.Sleep(time.Second)
	if out := mustCLI(t, admin, "", "get", "pvc", "notes"); !strings.Contains(out, "Terminating") {
		t.Fatalf("a claim in use, deleted:\n%s", out)
	}
	mustCLI(t, admin, "", "delete", "pod", "reader")
	waitFor(t, "the claim, its volume and its directory gone", 60*time.Second, func() error {
		if _, err := getClaim(t, admin, "notes"); err == nil {
			return errors.New("claim still there")
		}
		if _, err := getVolume(t, admin, pv.Name); err == nil {
			return errors.New("volume still there")
		}
		if fileExists(dir) {
			return errors.New("directory still there")
		}
		return nil
	})

	// Retain: the volume outlives its claim, Released, with its data; a
	// user deletes it and the data stays on the node.
	mustCLI(t, admin, "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: keep}\nprovisioner: skiff.io/local-path\nreclaimPolicy: Retain\nvolumeBindingMode: WaitForFirstConsumer\n", "apply", "-f", "-")
	defer cli(t, admin, "", "delete", "storageclass", "keep")
	mustCLI(t, admin, claimManifest("ledger", "keep"), "apply", "-f", "-")
	mustCLI(t, admin, claimPod("bookkeeper", a.node, "ledger"), "apply", "-f", "-")
	waitFor(t, "the bookkeeper running", 60*time.Second, func() error {
		_, err := podRunningReady(t, admin, "bookkeeper")
		return err
	})
	mustCLI(t, admin, "", "exec", "bookkeeper", "--", "sh", "-c", "echo 42 > /data/total")
	claim, err = getClaim(t, admin, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, admin, "", "delete", "pod", "bookkeeper")
	mustCLI(t, admin, "", "delete", "pvc", "ledger")
	var kept *corev1.PersistentVolume
	waitFor(t, "the volume Released and kept", 60*time.Second, func() error {
		kept, err = getVolume(t, admin, claim.Spec.VolumeName)
		if err != nil || kept.Status.Phase != corev1.VolumeReleased {
			return fmt.Errorf("%+v %v", kept, err)
		}
		return nil
	})
	mustCLI(t, admin, "", "delete", "pv", kept.Name)
	waitFor(t, "the volume object gone", 30*time.Second, func() error {
		if _, err := getVolume(t, admin, kept.Name); err == nil {
			return errors.New("still there")
		}
		return nil
	})
	if raw, err := os.ReadFile(filepath.Join(kept.Spec.Local.Path, "total")); err != nil || string(raw) != "42\n" {
		t.Fatalf("Retain kept the data: %q %v", raw, err)
	}

	// Bad input: an unknown class is named at once, and in the claim's
	// events; a pod using the claim says why it waits; nothing else moves.
	_, errOut, ok := cli(t, admin, claimManifest("typo", "fsat"), "apply", "-f", "-")
	if !ok || !strings.Contains(errOut, `storage class "fsat" does not exist`) {
		t.Fatalf("a claim of an unknown class: ok %v, stderr %q", ok, errOut)
	}
	mustCLI(t, admin, claimPod("waits", a.node, "typo"), "apply", "-f", "-")
	waitFor(t, "the claim's event and the pod's reason", 30*time.Second, func() error {
		d := mustCLI(t, admin, "", "describe", "pvc", "typo")
		p := mustCLI(t, admin, "", "describe", "pod", "waits")
		if !strings.Contains(d, `storageclass.storage.k8s.io "fsat" not found`) || !strings.Contains(p, `storageclass "fsat" of claim "typo" not found`) {
			return fmt.Errorf("describe pvc:\n%s\ndescribe pod:\n%s", d, p)
		}
		return nil
	})
	mustCLI(t, admin, "", "delete", "pod", "waits")
	mustCLI(t, admin, "", "delete", "pvc", "typo")
	_, errOut, ok = cli(t, admin, "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: huge}\nspec: {accessModes: [ReadWriteOnce]}\n", "apply", "-f", "-")
	if ok || !strings.Contains(errOut, "spec.resources.requests[storage]") {
		t.Fatalf("a claim without a size: ok %v, stderr %q", ok, errOut)
	}
}
