package defaults

import (
	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
)

// Secret merges stringData into data (stringData wins, as in Kubernetes)
// and sets the type to Opaque when empty.
func Secret(obj apis.Object) {
	s := obj.(*corev1.Secret)
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
}
