package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func newSetCmd(g *globals) *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "Change a field of a workload"}
	image := &cobra.Command{
		Use:     "image TYPE/NAME CONTAINER=IMAGE...",
		Short:   "Set the image of containers of a Deployment or ReplicaSet (a Deployment rolls out)",
		Example: "  skiff set image deployment/web web=skiff.local/echo:2",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, name, err := workloadArg(c.Registry(), args[:1], "Deployment", "ReplicaSet")
			if err != nil {
				return err
			}
			want := map[string]string{}
			for _, a := range args[1:] {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" || v == "" {
					return fmt.Errorf("%q: want CONTAINER=IMAGE", a)
				}
				want[k] = v
			}
			ctx := cmd.Context()
			obj, err := c.Get(ctx, res, g.ns(), name)
			if err != nil {
				return err
			}
			var containers []map[string]any
			var names []string
			for _, ct := range podTemplateOf(obj).Spec.Containers {
				names = append(names, ct.Name)
			}
			found := map[string]bool{}
			for _, n := range names {
				found[n] = true
			}
			for k := range want {
				if !found[k] {
					return fmt.Errorf("container %q not found in %s %s (containers: %s)", k, strings.ToLower(res.Kind), name, strings.Join(names, ", "))
				}
			}
			// A strategic merge patch merges containers by name.
			for k, v := range want {
				containers = append(containers, map[string]any{"name": k, "image": v})
			}
			patch := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": containers}}}}
			raw, err := json.Marshal(patch)
			if err != nil {
				return err
			}
			upd, err := c.Patch(ctx, res, g.ns(), name, "application/strategic-merge-patch+json", raw, false)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s image updated\n", kindName(res, upd))
			return nil
		},
	}
	g.addNamespaceFlag(image)
	set.AddCommand(image)
	return set
}

// podTemplateOf returns a workload's pod template.
func podTemplateOf(obj apis.Object) *corev1.PodTemplateSpec {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.ReplicaSet:
		return &o.Spec.Template
	}
	return &corev1.PodTemplateSpec{}
}
