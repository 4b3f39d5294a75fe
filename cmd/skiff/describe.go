package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"
)

func newDescribeCmd(g *globals) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "describe TYPE [NAME...] | TYPE/NAME",
		Short: "Show an object in detail, with its events",
		Example: `  skiff describe configmap demo
  skiff describe pods -l app=web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			targets, err := parseGetArgs(c.Registry(), args)
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			first := true
			for _, t := range targets {
				var objs []apis.Object
				if len(t.names) == 0 {
					list, err := listAll(ctx, c, t.res, client.ListOptions{Namespace: g.ns(), LabelSelector: selector})
					if err != nil {
						return err
					}
					objs = list.Items
				}
				for _, name := range t.names {
					obj, err := c.Get(ctx, t.res, g.ns(), name)
					if err != nil {
						return err
					}
					objs = append(objs, obj)
				}
				for _, obj := range objs {
					if !first {
						fmt.Fprintln(out)
					}
					first = false
					if err := describe(ctx, c, out, t.res, obj); err != nil {
						return err
					}
				}
			}
			if first {
				return fmt.Errorf("no %s found", targets[0].res.Plural)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "describe every object matching this label selector")
	g.addNamespaceFlag(cmd)
	return cmd
}

// describe prints the object's identity, then its content section by
// section, then the events about it.
func describe(ctx context.Context, c *client.Client, out io.Writer, res *resources.Resource, obj apis.Object) error {
	field := func(k, v string) { fmt.Fprintf(out, "%-20s %s\n", k+":", v) }
	field("Name", obj.GetName())
	if res.Namespaced {
		field("Namespace", obj.GetNamespace())
	}
	field("Kind", res.Kind)
	field("Labels", orNone(labelsString(obj.GetLabels())))
	ann := map[string]string{}
	for k, v := range obj.GetAnnotations() {
		if k != lastAppliedKey {
			ann[k] = v
		}
	}
	field("Annotations", orNone(labelsString(ann)))
	ts := obj.GetCreationTimestamp()
	field("Created", ts.UTC().Format(time.RFC1123Z)+" ("+age(obj)+" ago)")
	field("UID", string(obj.GetUID()))
	field("ResourceVersion", obj.GetResourceVersion())
	if len(obj.GetOwnerReferences()) > 0 {
		var owners []string
		for _, o := range obj.GetOwnerReferences() {
			owners = append(owners, strings.ToLower(o.Kind)+"/"+o.Name)
		}
		field("Controlled By", strings.Join(owners, ", "))
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		describePod(out, pod)
		return describeEvents(ctx, c, out, res, obj)
	}
	// The rest of the object, section by section, as YAML.
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return err
	}
	keys := make([]string, 0, len(tree))
	for k := range tree {
		switch k {
		case "apiVersion", "kind", "metadata":
			continue
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return sectionOrder(keys[i]) < sectionOrder(keys[j]) })
	for _, k := range keys {
		if res.Kind == "Secret" && (k == "data" || k == "stringData") {
			fmt.Fprintf(out, "%s:\n", strings.ToUpper(k[:1])+k[1:])
			for name, v := range obj.(*corev1.Secret).Data {
				fmt.Fprintf(out, "  %s: %d bytes\n", name, len(v))
			}
			continue
		}
		title := strings.ToUpper(k[:1]) + k[1:]
		switch v := tree[k].(type) {
		case map[string]any, []any:
		default:
			fmt.Fprintf(out, "%-20s %v\n", title+":", v)
			continue
		}
		section, err := yaml.Marshal(tree[k])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s:\n", title)
		for _, line := range strings.Split(strings.TrimRight(string(section), "\n"), "\n") {
			fmt.Fprintf(out, "  %s\n", line)
		}
	}
	return describeEvents(ctx, c, out, res, obj)
}

func sectionOrder(k string) int {
	switch k {
	case "spec", "data":
		return 0
	case "status":
		return 2
	}
	return 1
}

func describeEvents(ctx context.Context, c *client.Client, out io.Writer, res *resources.Resource, obj apis.Object) error {
	evRes, _ := c.Registry().ByKind("Event")
	ns := obj.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	list, err := c.List(ctx, evRes, client.ListOptions{
		Namespace:     ns,
		FieldSelector: "involvedObject.kind=" + res.Kind + ",involvedObject.name=" + obj.GetName() + uidSelector(obj),
	})
	if err != nil {
		return err
	}
	if len(list.Items) == 0 {
		fmt.Fprintln(out, "Events:              <none>")
		return nil
	}
	fmt.Fprintln(out, "Events:")
	fmt.Fprintf(out, "  %-8s %-20s %-8s %-20s %s\n", "Type", "Reason", "Age", "From", "Message")
	for _, o := range list.Items {
		e := o.(*corev1.Event)
		t := e.LastTimestamp.Time
		if t.IsZero() {
			t = e.CreationTimestamp.Time
		}
		from := e.Source.Component
		if e.ReportingController != "" {
			from = e.ReportingController
		}
		fmt.Fprintf(out, "  %-8s %-20s %-8s %-20s %s\n", e.Type, e.Reason, duration.HumanDuration(time.Since(t)), from, e.Message)
	}
	return nil
}

// uidSelector narrows events to this very object: an earlier object of the
// same name has its own.
func uidSelector(obj apis.Object) string {
	if obj.GetUID() == "" {
		return ""
	}
	return ",involvedObject.uid=" + string(obj.GetUID())
}
