package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodResolvConf(t *testing.T) {
	host := []byte("# host\nnameserver 10.255.255.53\nsearch corp.example\noptions edns0\n")
	five := "2"
	pod := func(policy corev1.DNSPolicy, hostNet bool, cfg *corev1.PodDNSConfig) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"},
			Spec: corev1.PodSpec{DNSPolicy: policy, HostNetwork: hostNet, DNSConfig: cfg}}
	}
	cluster := "nameserver 169.254.20.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"
	hostOut := "nameserver 10.255.255.53\nsearch corp.example\noptions edns0\n"
	cases := []struct {
		name       string
		pod        *corev1.Pod
		clusterDNS string
		want       string
		fails      bool
	}{
		{"ClusterFirst by default", pod("", false, nil), "169.254.20.10", cluster, false},
		{"ClusterFirst without a cluster DNS: the host's", pod(corev1.DNSClusterFirst, false, nil), "", hostOut, false},
		{"ClusterFirst on the host network: the host's", pod(corev1.DNSClusterFirst, true, nil), "169.254.20.10", hostOut, false},
		{"ClusterFirstWithHostNet", pod(corev1.DNSClusterFirstWithHostNet, true, nil), "169.254.20.10", cluster, false},
		{"Default", pod(corev1.DNSDefault, false, nil), "169.254.20.10", hostOut, false},
		{"dnsConfig merged: nameserver, search, option replaced",
			pod("", false, &corev1.PodDNSConfig{Nameservers: []string{"10.0.0.9"}, Searches: []string{"extra.example", "svc.cluster.local"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &five}, {Name: "rotate"}}}),
			"169.254.20.10",
			"nameserver 169.254.20.10\nnameserver 10.0.0.9\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\noptions ndots:2 rotate\n", false},
		{"None takes only dnsConfig", pod(corev1.DNSNone, false, &corev1.PodDNSConfig{Nameservers: []string{"10.0.0.9"}}), "169.254.20.10",
			"nameserver 10.0.0.9\n", false},
		{"None without nameservers is refused", pod(corev1.DNSNone, false, nil), "169.254.20.10", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := podResolvConf(tc.pod, host, tc.clusterDNS, "cluster.local")
			if tc.fails != (err != nil) {
				t.Fatalf("err %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
