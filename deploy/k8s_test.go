package deploy

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ocrstack/ocrstack/contracts"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const k8sDir = "k8s"

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) the
// base uses, decoded strictly like the built-in kinds.
type scaledObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount int `json:"minReplicaCount"`
		MaxReplicaCount int `json:"maxReplicaCount"`
		PollingInterval int `json:"pollingInterval"`
		CooldownPeriod  int `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// rendered is the kustomize output, by kind.
type rendered struct {
	namespaces  []corev1.Namespace
	configMaps  map[string]corev1.ConfigMap
	services    []corev1.Service
	deployments map[string]appsv1.Deployment
	pdbs        []policyv1.PodDisruptionBudget
	scalers     []scaledObject
}

// render builds the base as `kubectl apply -k` would and decodes every
// object strictly into its type: an unknown field is an error.
func render(t *testing.T) rendered {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), k8sDir)
	require.NoError(t, err, "kustomize build deploy/k8s")
	r := rendered{configMaps: map[string]corev1.ConfigMap{}, deployments: map[string]appsv1.Deployment{}}
	for _, res := range rm.Resources() {
		y, err := res.AsYAML()
		require.NoError(t, err)
		kind, name := res.GetKind(), res.GetName()
		strict := func(v any) { require.NoError(t, yaml.UnmarshalStrict(y, v), "%s %s", kind, name) }
		switch kind {
		case "Namespace":
			var o corev1.Namespace
			strict(&o)
			r.namespaces = append(r.namespaces, o)
		case "ConfigMap":
			var o corev1.ConfigMap
			strict(&o)
			r.configMaps[o.Name] = o
		case "Service":
			var o corev1.Service
			strict(&o)
			r.services = append(r.services, o)
		case "Deployment":
			var o appsv1.Deployment
			strict(&o)
			r.deployments[o.Name] = o
		case "PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			strict(&o)
			r.pdbs = append(r.pdbs, o)
		case "ScaledObject":
			var o scaledObject
			strict(&o)
			r.scalers = append(r.scalers, o)
		default:
			t.Fatalf("%s %s: a kind this test does not check", kind, name)
		}
	}
	return r
}

// TestKustomization: the kustomization lists exactly the manifests in
// deploy/k8s, so none is forgotten or missing.
func TestKustomization(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	require.NoError(t, err)
	var k types.Kustomization
	require.NoError(t, yaml.UnmarshalStrict(data, &k))
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	require.NoError(t, err)
	var want []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			want = append(want, base)
		}
	}
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	require.Equal(t, want, got)
	require.Equal(t, "ocrstack", k.Namespace)
}

// TestK8sDeployments checks every service's Deployment: pinned image,
// liveness and readiness probes on its ops port, resources, a non-root and
// read-only security context, the ports its settings name, its own NATS
// user, and only OCR_* variables the service reads.
func TestK8sDeployments(t *testing.T) {
	r := render(t)
	require.Len(t, r.deployments, len(services))
	users := natsUsers(t)
	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			d, ok := r.deployments[name]
			require.True(t, ok, "no Deployment %s", name)
			require.Equal(t, "ocrstack", d.Namespace)
			require.Equal(t, d.Spec.Selector.MatchLabels, filterLabels(d.Spec.Template.Labels, d.Spec.Selector.MatchLabels))
			pod := d.Spec.Template.Spec
			require.NotNil(t, pod.SecurityContext)
			require.True(t, pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot, "runAsNonRoot")
			require.True(t, pod.SecurityContext.RunAsUser != nil && *pod.SecurityContext.RunAsUser != 0, "runAsUser")
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			require.True(t, pinned(c.Image) && strings.HasPrefix(c.Image, "ocrstack/"+name+":"), "image %q", c.Image)

			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			require.Equal(t, int32(opsPorts[name]), ports["ops"], "the ops port")
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				require.NotNil(t, probe, "liveness and readiness probes")
				require.NotNil(t, probe.HTTPGet)
				require.Equal(t, "ops", probe.HTTPGet.Port.String())
			}
			require.Equal(t, "/livez", c.LivenessProbe.HTTPGet.Path)
			require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

			require.False(t, c.Resources.Requests.Cpu().IsZero(), "cpu request")
			require.False(t, c.Resources.Requests.Memory().IsZero(), "memory request")
			require.False(t, c.Resources.Limits.Memory().IsZero(), "memory limit")

			sc := c.SecurityContext
			require.NotNil(t, sc)
			require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false")
			require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
			require.True(t, sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL"), "drop ALL capabilities")

			env := checkEnv(t, r, c.Env)
			_, opsPort, err := net.SplitHostPort(env["OCR_OPS_ADDR"])
			require.NoError(t, err, "OCR_OPS_ADDR")
			require.Equal(t, strconv.Itoa(opsPorts[name]), opsPort)
			if addr, ok := env["OCR_HTTP_ADDR"]; ok {
				_, p, err := net.SplitHostPort(addr)
				require.NoError(t, err)
				require.Equal(t, p, strconv.Itoa(int(ports["http"])), "OCR_HTTP_ADDR and the http port")
			}
			checkNATSURL(t, users, name, env["OCR_NATS_URL"])

			reads := envRead(t, name)
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "OCR_") {
					require.True(t, reads[e.Name], "deploy/k8s sets %s, which %s never reads", e.Name, name)
				}
			}
		})
	}
}

// checkEnv resolves a container's environment as the kubelet would: values
// from the ConfigMaps (whose keys must exist), secret references as
// "env.KEY" (the secret is not in the repository) and $(NAME) references to
// variables defined earlier in the list.
func checkEnv(t *testing.T, r rendered, vars []corev1.EnvVar) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range vars {
		switch {
		case e.ValueFrom == nil:
			v := e.Value
			for name, val := range env {
				v = strings.ReplaceAll(v, "$("+name+")", val)
			}
			require.NotContains(t, v, "$(", "%s refers to a variable not defined before it", e.Name)
			env[e.Name] = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := r.configMaps[ref.Name]
			require.True(t, ok, "%s: no ConfigMap %s", e.Name, ref.Name)
			v, ok := cm.Data[ref.Key]
			require.True(t, ok, "%s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			require.Equal(t, "ocrstack-secrets", e.ValueFrom.SecretKeyRef.Name)
			env[e.Name] = "env." + e.ValueFrom.SecretKeyRef.Key
		default:
			t.Fatalf("%s: an unexpected valueFrom", e.Name)
		}
	}
	return env
}

func filterLabels(labels, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		out[k] = labels[k]
	}
	return out
}

// selects returns the Deployment whose pods selector selects.
func (r rendered) selects(t *testing.T, selector map[string]string) appsv1.Deployment {
	t.Helper()
	require.NotEmpty(t, selector)
	for _, d := range r.deployments {
		if len(filterLabels(d.Spec.Template.Labels, selector)) == len(selector) && mapsEqual(filterLabels(d.Spec.Template.Labels, selector), selector) {
			return d
		}
	}
	t.Fatalf("selector %v selects no Deployment", selector)
	return appsv1.Deployment{}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestK8sServicesAndBudgets: every Service selects a Deployment and targets
// ports it names; every Deployment has a PodDisruptionBudget that cannot
// block a drain forever (minAvailable below its replicas).
func TestK8sServicesAndBudgets(t *testing.T) {
	r := render(t)
	for _, s := range r.services {
		d := r.selects(t, s.Spec.Selector)
		names := map[string]bool{}
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			names[p.Name] = true
		}
		for _, p := range s.Spec.Ports {
			require.True(t, names[p.TargetPort.String()], "Service %s targets port %s, which %s does not name", s.Name, p.TargetPort.String(), d.Name)
		}
	}
	covered := map[string]bool{}
	for _, b := range r.pdbs {
		d := r.selects(t, b.Spec.Selector.MatchLabels)
		covered[d.Name] = true
		if b.Spec.MinAvailable != nil {
			require.Less(t, b.Spec.MinAvailable.IntValue(), int(*d.Spec.Replicas), "PDB %s would block every drain", b.Name)
		}
	}
	for name := range r.deployments {
		require.True(t, covered[name], "no PodDisruptionBudget for %s", name)
	}
}

// TestK8sWorkerScaler: KEDA scales the worker Deployment on the lag of the
// jobs consumer, in the account nats.conf defines.
func TestK8sWorkerScaler(t *testing.T) {
	r := render(t)
	require.Len(t, r.scalers, 1)
	so := r.scalers[0]
	require.Equal(t, "keda.sh/v1alpha1", so.APIVersion)
	require.Contains(t, r.deployments, so.Spec.ScaleTargetRef.Name)
	require.Equal(t, "ocr-worker", so.Spec.ScaleTargetRef.Name)
	require.GreaterOrEqual(t, so.Spec.MinReplicaCount, 1, "a worker always runs: max-deliveries advisories are not stored")
	require.Greater(t, so.Spec.MaxReplicaCount, so.Spec.MinReplicaCount)
	require.Len(t, so.Spec.Triggers, 1)
	tr := so.Spec.Triggers[0]
	require.Equal(t, "nats-jetstream", tr.Type)
	require.Equal(t, contracts.JobsStream, tr.Metadata["stream"])
	require.Equal(t, contracts.JobsConsumer, tr.Metadata["consumer"])
	conf, err := os.ReadFile(filepath.Join(root, "nats.conf"))
	require.NoError(t, err)
	require.Contains(t, string(conf), "\n  "+tr.Metadata["account"]+" {", "the account of the services in nats.conf")
	_, err = strconv.Atoi(tr.Metadata["lagThreshold"])
	require.NoError(t, err, "lagThreshold")
	host, port, err := net.SplitHostPort(tr.Metadata["natsServerMonitoringEndpoint"])
	require.NoError(t, err)
	require.NotEmpty(t, host)
	require.Equal(t, "8222", port, "nats.conf's http_port")
}
