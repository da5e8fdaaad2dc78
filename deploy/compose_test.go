package deploy

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// composeFile is the part of the Compose specification docker-compose.yml
// may use. Decoding is strict: a key outside it (a typo such as
// "healtcheck") is an error rather than a setting Docker would ignore.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]*struct{}      `yaml:"volumes"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           *composeBuild                `yaml:"build"`
	Command         []string                     `yaml:"command"`
	Environment     map[string]string            `yaml:"environment"`
	Volumes         []string                     `yaml:"volumes"`
	Tmpfs           []string                     `yaml:"tmpfs"`
	Ports           []string                     `yaml:"ports"`
	Healthcheck     *composeHealthcheck          `yaml:"healthcheck"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	Restart         string                       `yaml:"restart"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
	Ulimits         map[string]struct {
		Soft int `yaml:"soft"`
		Hard int `yaml:"hard"`
	} `yaml:"ulimits"`
	ReadOnly    bool     `yaml:"read_only"`
	CapDrop     []string `yaml:"cap_drop"`
	SecurityOpt []string `yaml:"security_opt"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c composeFile
	require.NoError(t, dec.Decode(&c), "docker-compose.yml")
	require.NotEmpty(t, c.Services)
	return c
}

// interpolation matches ${NAME}, ${NAME:?message} and ${NAME:-default}.
var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:?[-?])[^}]*)?\}`)

// pinned reports whether an image reference names a tag other than latest.
func pinned(ref string) bool {
	name := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest" && !strings.Contains(tag, "$")
}

// TestCompose validates docker-compose.yml as Docker would read it, plus
// what Docker would only find out at run time: images pinned, Dockerfiles
// and mounted files present, named volumes declared, published ports
// matching what the service listens on, a healthcheck everywhere (the
// service's own subcommand for ours), depends_on on health of services that
// have one, and for our services only OCR_* variables they read.
func TestCompose(t *testing.T) {
	c := readCompose(t)
	for _, s := range append([]string{"nats", "clickhouse"}, services...) {
		require.Contains(t, c.Services, s)
	}
	for name, svc := range c.Services {
		t.Run(name, func(t *testing.T) {
			require.NotEmpty(t, svc.Image, "every service names its image (built ones: the tag they are built as)")
			require.True(t, pinned(svc.Image), "image %q must be pinned to a tag", svc.Image)
			if svc.Build != nil {
				ctx := filepath.Join(root, svc.Build.Context)
				_, err := os.Stat(filepath.Join(ctx, svc.Build.Dockerfile))
				require.NoError(t, err, "Dockerfile")
				img, ok := images[name]
				require.True(t, ok, "%s is built but not one of the services", name)
				require.Equal(t, img.dockerfile, filepath.ToSlash(filepath.Join(svc.Build.Context, svc.Build.Dockerfile)))
				require.Equal(t, img.serviceArg, svc.Build.Args["SERVICE"])
			}
			for _, v := range svc.Volumes {
				parts := strings.Split(v, ":")
				require.GreaterOrEqual(t, len(parts), 2, "volume %q: want source:target[:mode]", v)
				src := parts[0]
				if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
					_, err := os.Stat(filepath.Join(root, src))
					require.NoError(t, err, "bind mount %q", v)
				} else {
					require.Contains(t, c.Volumes, src, "named volume %q is not declared", src)
				}
				require.True(t, strings.HasPrefix(parts[1], "/"), "volume %q: the target must be absolute", v)
			}
			for _, p := range svc.Ports {
				host, container, ok := strings.Cut(p, ":")
				require.True(t, ok, "port %q", p)
				if i := strings.LastIndex(container, ":"); i >= 0 {
					host, container = host+":"+container[:i], container[i+1:]
				}
				require.True(t, strings.HasPrefix(host, "127.0.0.1:"), "port %q: publish on loopback; a proxy in front publishes the rest", p)
				_, listen, err := net.SplitHostPort(svc.Environment["OCR_HTTP_ADDR"])
				require.NoError(t, err, "a published service says where it listens (OCR_HTTP_ADDR)")
				require.Equal(t, listen, container, "port %q must reach OCR_HTTP_ADDR", p)
			}
			require.NotNil(t, svc.Healthcheck, "healthcheck")
			require.NotEmpty(t, svc.Healthcheck.Test)
			require.Contains(t, []string{"CMD", "CMD-SHELL"}, svc.Healthcheck.Test[0])
			for dep, cond := range svc.DependsOn {
				target, ok := c.Services[dep]
				require.True(t, ok, "depends_on %q: no such service", dep)
				require.Equal(t, "service_healthy", cond.Condition, "depends_on %q", dep)
				require.NotNil(t, target.Healthcheck, "depends_on %q is healthy: it needs a healthcheck", dep)
			}
			for k, v := range svc.Environment {
				for _, m := range interpolation.FindAllStringSubmatch(v, -1) {
					require.NotEqual(t, "-", m[2], "%s: secrets and settings have no default hidden here (%s)", k, m[0])
				}
			}
		})
	}
}

// TestComposeServices checks our four services: their healthcheck runs
// their binary's healthcheck subcommand, their ops port is the container
// one, each connects to NATS as its own nats.conf user with that user's
// password variable, and every OCR_* variable set is one the service reads.
func TestComposeServices(t *testing.T) {
	c := readCompose(t)
	users := natsUsers(t)
	for _, name := range services {
		t.Run(name, func(t *testing.T) {
			svc := c.Services[name]
			require.NotNil(t, svc.Build, "built from this repository")
			d := readDockerfile(t, images[name].dockerfile, svc.Build.Args)
			binary := execForm(t, d.find("ENTRYPOINT")[0].args)[0]
			require.Equal(t, []string{"CMD", binary, "healthcheck"}, svc.Healthcheck.Test)

			_, port, err := net.SplitHostPort(svc.Environment["OCR_OPS_ADDR"])
			require.NoError(t, err, "OCR_OPS_ADDR")
			require.Equal(t, strconv.Itoa(opsPorts[name]), port)
			require.True(t, strings.HasPrefix(svc.Environment["OCR_OPS_ADDR"], "0.0.0.0:"), "ops reachable from the network")

			checkNATSURL(t, users, name, interpolation.ReplaceAllString(svc.Environment["OCR_NATS_URL"], "env.$1"))

			reads := envRead(t, name)
			for k := range svc.Environment {
				if strings.HasPrefix(k, "OCR_") {
					require.True(t, reads[k], "%s sets %s, which %s never reads", "docker-compose.yml", k, name)
				}
			}
		})
	}
}

// checkNATSURL requires rawURL to connect as the nats.conf user named like
// service (the worker's is ocr-worker) with that user's password variable:
// rawURL has each variable reference replaced by "env.NAME", so a password
// written into the file fails.
func checkNATSURL(t *testing.T, users map[string]natsUser, service, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err, "OCR_NATS_URL %q", rawURL)
	require.Equal(t, "nats", u.Scheme)
	user, ok := users[u.User.Username()]
	require.True(t, ok, "OCR_NATS_URL user %q is not in nats.conf", u.User.Username())
	require.Equal(t, service, user.name, "each service connects as its own user")
	password, _ := u.User.Password()
	require.Equal(t, "env."+user.passwordVar, password, "the password of %s comes from its variable", user.name)
}

// TestComposeNATSPasswords: the NATS container gets every password
// nats.conf reads from its environment (a missing one stops the server).
func TestComposeNATSPasswords(t *testing.T) {
	c := readCompose(t)
	for _, u := range natsUsers(t) {
		v, ok := c.Services["nats"].Environment[u.passwordVar]
		require.True(t, ok, "nats needs %s", u.passwordVar)
		m := interpolation.FindStringSubmatch(v)
		require.True(t, m != nil && m[1] == u.passwordVar && m[2] == ":?", "%s: want ${%s:?...}, an error when unset, got %q", u.passwordVar, u.passwordVar, v)
	}
	require.Contains(t, c.Services["nats"].Volumes, "./nats.conf:/etc/nats/nats.conf:ro")
	require.Contains(t, strings.Join(c.Services["nats"].Command, " "), "-c /etc/nats/nats.conf")
}
