package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// errNoMetrics is what kubectl says before the first scrape.
var errNoMetrics = errors.New("metrics not available yet (the leader collects them every --metrics-period, 15 s by default)")

func newTopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "top", Short: "Show CPU and memory use of nodes or pods"}
	cmd.AddCommand(newTopNodesCmd(g), newTopPodsCmd(g))
	return cmd
}

func newTopNodesCmd(g *globals) *cobra.Command {
	var selector, sortBy string
	cmd := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "CPU and memory use of nodes, and their share of what the node can give pods",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSortBy(sortBy); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res, _ := c.Registry().ByKind("NodeMetrics")
			list, err := listAll(ctx, c, res, client.ListOptions{LabelSelector: selector})
			if err != nil {
				return err
			}
			nodesRes, _ := c.Registry().ByKind("Node")
			nodes, err := listAll(ctx, c, nodesRes, client.ListOptions{})
			if err != nil {
				return err
			}
			alloc := map[string]corev1.ResourceList{}
			for _, o := range nodes.Items {
				alloc[o.GetName()] = o.(*corev1.Node).Status.Allocatable
			}
			var rows []*metricsv1beta1.NodeMetrics
			for _, o := range list.Items {
				if m := o.(*metricsv1beta1.NodeMetrics); len(args) == 0 || m.Name == args[0] {
					rows = append(rows, m)
				}
			}
			if len(rows) == 0 {
				if len(args) == 1 {
					return fmt.Errorf("no metrics of node %q: %w", args[0], errNoMetrics)
				}
				return errNoMetrics
			}
			sortUsage(rows, sortBy, func(m *metricsv1beta1.NodeMetrics) (string, corev1.ResourceList) { return m.Name, m.Usage })
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "NAME\tCPU(cores)\tCPU%\tMEMORY(bytes)\tMEMORY%")
			for _, m := range rows {
				a := alloc[m.Name]
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.Name, cpuString(m.Usage), percent(m.Usage.Cpu().MilliValue(), a.Cpu().MilliValue()),
					memString(m.Usage), percent(m.Usage.Memory().Value(), a.Memory().Value()))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only nodes matching this label selector")
	cmd.Flags().StringVar(&sortBy, "sort-by", "", "cpu or memory (highest first)")
	return cmd
}

func newTopPodsCmd(g *globals) *cobra.Command {
	var selector, sortBy string
	var all, containers bool
	cmd := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "CPU and memory use of pods (or of their containers)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSortBy(sortBy); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, _ := c.Registry().ByKind("PodMetrics")
			ns := g.ns()
			if all {
				ns = ""
			}
			list, err := listAll(cmd.Context(), c, res, client.ListOptions{Namespace: ns, LabelSelector: selector})
			if err != nil {
				return err
			}
			var rows []*metricsv1beta1.PodMetrics
			for _, o := range list.Items {
				if m := o.(*metricsv1beta1.PodMetrics); len(args) == 0 || m.Name == args[0] {
					rows = append(rows, m)
				}
			}
			if len(rows) == 0 {
				if len(args) == 1 {
					return fmt.Errorf("no metrics of pod %q in namespace %q: %w", args[0], ns, errNoMetrics)
				}
				return errNoMetrics
			}
			sortUsage(rows, sortBy, func(m *metricsv1beta1.PodMetrics) (string, corev1.ResourceList) {
				return m.Namespace + "/" + m.Name, podUsage(m)
			})
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			head := "NAME"
			if all {
				head = "NAMESPACE\tNAME"
			}
			if containers {
				head = "POD\tNAME"
				if all {
					head = "NAMESPACE\tPOD\tNAME"
				}
			}
			fmt.Fprintf(w, "%s\tCPU(cores)\tMEMORY(bytes)\n", head)
			for _, m := range rows {
				prefix := ""
				if all {
					prefix = m.Namespace + "\t"
				}
				if !containers {
					u := podUsage(m)
					fmt.Fprintf(w, "%s%s\t%s\t%s\n", prefix, m.Name, cpuString(u), memString(u))
					continue
				}
				for _, ctr := range m.Containers {
					fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\n", prefix, m.Name, ctr.Name, cpuString(ctr.Usage), memString(ctr.Usage))
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "only pods matching this label selector")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "pods of every namespace")
	cmd.Flags().BoolVar(&containers, "containers", false, "a line per container")
	cmd.Flags().StringVar(&sortBy, "sort-by", "", "cpu or memory (highest first)")
	g.addNamespaceFlag(cmd)
	return cmd
}

func checkSortBy(v string) error {
	if v != "" && v != "cpu" && v != "memory" {
		return fmt.Errorf(`--sort-by %q: must be "cpu" or "memory"`, v)
	}
	return nil
}

// sortUsage orders rows by name, or by the use named in by, highest first.
func sortUsage[T any](rows []T, by string, key func(T) (string, corev1.ResourceList)) {
	slices.SortStableFunc(rows, func(a, b T) int {
		na, ua := key(a)
		nb, ub := key(b)
		switch by {
		case "cpu":
			if c := cmp.Compare(ub.Cpu().MilliValue(), ua.Cpu().MilliValue()); c != 0 {
				return c
			}
		case "memory":
			if c := cmp.Compare(ub.Memory().Value(), ua.Memory().Value()); c != 0 {
				return c
			}
		}
		return cmp.Compare(na, nb)
	})
}

func podUsage(m *metricsv1beta1.PodMetrics) corev1.ResourceList {
	cpu, mem := resource.NewMilliQuantity(0, resource.DecimalSI), resource.NewQuantity(0, resource.BinarySI)
	for _, c := range m.Containers {
		cpu.Add(*c.Usage.Cpu())
		mem.Add(*c.Usage.Memory())
	}
	return corev1.ResourceList{corev1.ResourceCPU: *cpu, corev1.ResourceMemory: *mem}
}

func cpuString(u corev1.ResourceList) string { return fmt.Sprintf("%dm", u.Cpu().MilliValue()) }

func memString(u corev1.ResourceList) string { return fmt.Sprintf("%dMi", u.Memory().Value()/(1<<20)) }

func percent(used, of int64) string {
	if of <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", used*100/of)
}
