package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// lastAppliedKey holds the manifest as last applied, so that the next apply
// can tell a field the user removed from one someone else set.
const lastAppliedKey = "skiff.io/last-applied-configuration"

func newApplyCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|FOLDER|-",
		Short: "Create or update objects from manifests",
		Example: `  skiff apply -f examples/
  skiff apply -f web.yaml -f db.yaml
  cat cm.yaml | skiff apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			docs, err := readManifests(files, c.Registry(), cmd.InOrStdin())
			if err != nil {
				return err
			}
			for i := range docs {
				if err := placeNamespace(&docs[i], g.namespace); err != nil {
					return err
				}
			}
			for _, d := range docs {
				result, err := applyOne(cmd.Context(), c, d)
				if err != nil {
					return fmt.Errorf("%s (%s): %w", kindName(d.res, d.obj), d.source, describeAsError(err))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", kindName(d.res, d.obj), result)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file, folder, or - for stdin (repeatable)")
	g.addNamespaceFlag(cmd)
	return cmd
}

type errString string

func (e errString) Error() string { return string(e) }

// describeAsError keeps server errors readable inside a wrapped message.
func describeAsError(err error) error {
	if _, ok := err.(*apierrors.StatusError); ok {
		return errString(describeError(err))
	}
	return err
}

// applyOne creates the object or patches it toward the manifest; it
// returns "created", "configured" or "unchanged".
func applyOne(ctx context.Context, c *client.Client, d document) (string, error) {
	var tree map[string]any
	if err := json.Unmarshal(d.json, &tree); err != nil {
		return "", err
	}
	meta, _ := tree["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		tree["metadata"] = meta
	}
	if d.res.Namespaced {
		meta["namespace"] = d.obj.GetNamespace()
	}
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations != nil {
		delete(annotations, lastAppliedKey)
		if len(annotations) == 0 {
			delete(meta, "annotations")
		}
	}
	lastApplied, err := json.Marshal(tree)
	if err != nil {
		return "", err
	}
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations[lastAppliedKey] = string(lastApplied)
	meta["annotations"] = annotations
	modified, err := json.Marshal(tree)
	if err != nil {
		return "", err
	}

	cur, err := c.Get(ctx, d.res, d.obj.GetNamespace(), d.obj.GetName())
	if apierrors.IsNotFound(err) {
		obj := d.res.New()
		if err := json.Unmarshal(modified, obj); err != nil {
			return "", err
		}
		if _, err := c.Create(ctx, obj); err != nil {
			return "", err
		}
		return "created", nil
	}
	if err != nil {
		return "", err
	}
	current, err := json.Marshal(cur)
	if err != nil {
		return "", err
	}
	original := []byte(cur.GetAnnotations()[lastAppliedKey])
	var patch []byte
	patchType := client.StrategicPatch
	if d.res.Group == "" || d.res.Group == "apps" || d.res.Group == "autoscaling" {
		meta, err := strategicpatch.NewPatchMetaFromStruct(d.res.New())
		if err != nil {
			return "", err
		}
		patch, err = strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
		if err != nil {
			return "", fmt.Errorf("computing the patch: %w", err)
		}
	} else {
		patchType = client.MergePatch
		patch, err = jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, current, mergepatch.RequireKeyUnchanged("apiVersion"))
		if err != nil {
			return "", fmt.Errorf("computing the patch: %w", err)
		}
	}
	if string(patch) == "{}" {
		return "unchanged", nil
	}
	after, err := c.Patch(ctx, d.res, d.obj.GetNamespace(), d.obj.GetName(), patchType, patch, false)
	if err != nil {
		return "", err
	}
	if after.GetResourceVersion() == cur.GetResourceVersion() {
		return "unchanged", nil
	}
	return "configured", nil
}
