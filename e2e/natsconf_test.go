package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/ocrstack/ocrstack/contracts"
	"github.com/ocrstack/ocrstack/e2e/internal/textimage"
	"github.com/stretchr/testify/require"
)

// confUsers are the users nats.conf defines, by the environment variable
// holding each one's password.
var confUsers = map[string]string{
	"admin":      "OCR_NATS_ADMIN_PASSWORD",
	"keyservice": "OCR_NATS_KEYSERVICE_PASSWORD",
	"ocr-worker": "OCR_NATS_WORKER_PASSWORD",
	"analytics":  "OCR_NATS_ANALYTICS_PASSWORD",
	"ingress":    "OCR_NATS_INGRESS_PASSWORD",
	"producer":   "OCR_NATS_PRODUCER_PASSWORD",
	"sys":        "OCR_NATS_SYS_PASSWORD",
}

// confInboxes are the reply inbox prefixes nats.conf lets each user
// subscribe to; the admin may subscribe to anything.
var confInboxes = map[string]string{
	"keyservice": contracts.KeyServiceInboxPrefix,
	"ocr-worker": contracts.WorkerInboxPrefix,
	"analytics":  contracts.AnalyticsInboxPrefix,
	"ingress":    contracts.IngressInboxPrefix,
	"producer":   contracts.ProducerInboxPrefix,
}

// confServer is the repository's nats.conf running in-process, on one
// server or as a cluster.
type confServer struct {
	// ns is the first node; nodes are all of them.
	ns         *server.Server
	nodes      []*server.Server
	passwords  map[string]string
	violations *violationLog
}

// startConfNATS loads ../nats.conf with a random password per user (read
// from the environment, as the real server does), on a random loopback port
// and a temporary store, and starts it.
func startConfNATS(t *testing.T) *confServer {
	t.Helper()
	return startConfCluster(t, 1)
}

// startConfCluster is startConfNATS on n servers clustered as
// deploy/k8s/README.md describes (n > 1), each its own server_name and
// store, and waits until JetStream's meta leader sees every node current.
func startConfCluster(t *testing.T, n int) *confServer {
	t.Helper()
	cs := &confServer{passwords: map[string]string{}, violations: &violationLog{}}
	for user, env := range confUsers {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cs.passwords[user] = hex.EncodeToString(b[:])
		t.Setenv(env, cs.passwords[user])
	}
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		require.NoError(t, ln.Close())
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	for i := range n {
		opts, err := server.ProcessConfigFile("../nats.conf")
		require.NoError(t, err)
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
		opts.StoreDir, opts.NoSigs = t.TempDir(), true
		if n > 1 {
			opts.ServerName = fmt.Sprintf("ocr-%d", i)
			opts.Cluster = server.ClusterOpts{Name: "ocrstack", Host: "127.0.0.1", Port: ports[i]}
			opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		ns, err := server.NewServer(opts)
		require.NoError(t, err)
		ns.SetLogger(cs.violations, false, false)
		ns.Start()
		t.Cleanup(ns.Shutdown)
		cs.nodes = append(cs.nodes, ns)
	}
	for _, ns := range cs.nodes {
		require.True(t, ns.ReadyForConnections(10*time.Second))
	}
	cs.ns = cs.nodes[0]
	if n > 1 {
		// A meta leader alone is not enough: until it has heard from every
		// peer, placing an R3 stream fails with "no suitable peers".
		require.Eventually(t, func() bool {
			for _, ns := range cs.nodes {
				if !ns.JetStreamIsCurrent() {
					return false
				}
				if ns.JetStreamIsLeader() && len(ns.JetStreamClusterPeers()) != n {
					return false
				}
			}
			return true
		}, 30*time.Second, 25*time.Millisecond, "JetStream cluster not ready")
	}
	return cs
}

// url is the first server's URL with user's credentials.
func (cs *confServer) url(user string) string { return cs.urlAt(0, user) }

// urlAt is node i's URL with user's credentials.
func (cs *confServer) urlAt(i int, user string) string {
	u, err := url.Parse(cs.nodes[i].ClientURL())
	if err != nil {
		panic(err)
	}
	u.User = url.UserPassword(user, cs.passwords[user])
	return u.String()
}

// client is a connection as user that collects the permission violations
// the server reports to it.
type client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	denied chan error
}

// connect connects as user, with the user's private inbox prefix, as the
// services do.
func (cs *confServer) connect(t *testing.T, user string, opts ...nats.Option) *client {
	t.Helper()
	if prefix, ok := confInboxes[user]; ok {
		opts = append([]nats.Option{nats.CustomInboxPrefix(prefix)}, opts...)
	}
	return cs.connectRaw(t, user, opts...)
}

// connectRaw connects as user with nats.go's defaults and opts.
func (cs *confServer) connectRaw(t *testing.T, user string, opts ...nats.Option) *client {
	t.Helper()
	c := &client{denied: make(chan error, 64)}
	opts = append(opts, nats.Name("natsconf-test-"+user), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			c.denied <- err
		}
	}))
	var err error
	c.nc, err = nats.Connect(cs.url(user), opts...)
	require.NoError(t, err, "connect as %s", user)
	t.Cleanup(c.nc.Close)
	c.js, err = jetstream.New(c.nc)
	require.NoError(t, err)
	return c
}

// try runs op and reports whether the server refused it: a permission
// violation arrives, or op fails with one. The server answers a refused
// publish or subscription before the PONG that Flush waits for.
func (c *client) try(t *testing.T, op func(ctx context.Context, c *client) error) (bool, error) {
	t.Helper()
	for len(c.denied) > 0 {
		<-c.denied
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	opErr := op(ctx, c)
	require.NoError(t, c.nc.Flush())
	select {
	case err := <-c.denied:
		return true, err
	case <-time.After(300 * time.Millisecond):
	}
	return errors.Is(opErr, nats.ErrPermissionViolation), opErr
}

func publish(subject string) func(context.Context, *client) error {
	return func(_ context.Context, c *client) error { return c.nc.Publish(subject, []byte("{}")) }
}

func subscribe(subject string) func(context.Context, *client) error {
	return func(_ context.Context, c *client) error {
		_, err := c.nc.SubscribeSync(subject)
		return err
	}
}

func kvGet(bucket, key string) func(context.Context, *client) error {
	return func(ctx context.Context, c *client) error {
		kv, err := c.js.KeyValue(ctx, bucket)
		if err != nil {
			return err
		}
		_, err = kv.Get(ctx, key)
		return err
	}
}

// TestNATSConfDenials loads nats.conf and proves that each user is refused
// what it must not do (the ingress and workers never reach the keys
// buckets, analytics publishes no job or event, nobody reads the
// producer's inbox), while the same users are allowed the neighbouring
// operations they need, so a denial is not an artefact of a broken setup.
func TestNATSConfDenials(t *testing.T) {
	cs := startConfNATS(t)

	// The admin creates the keys buckets and an entry, so a refused read
	// is refused by permission, not for want of a bucket.
	admin := cs.connect(t, "admin")
	ctx := t.Context()
	for _, b := range []string{contracts.KeysBucket, contracts.KeyStateBucket} {
		kv, err := admin.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b})
		require.NoError(t, err)
		_, err = kv.Put(ctx, "h.secret", []byte("a key record"))
		require.NoError(t, err)
	}
	_, err := admin.js.CreateStream(ctx, jetstream.StreamConfig{Name: contracts.EventsStream, Subjects: []string{contracts.SubjectEventsAll}})
	require.NoError(t, err)

	clients := map[string]*client{
		"keyservice": cs.connect(t, "keyservice"),
		"ocr-worker": cs.connect(t, "ocr-worker"),
		"analytics":  cs.connect(t, "analytics"),
		"ingress":    cs.connect(t, "ingress"),
		"producer":   cs.connect(t, "producer"),
		// The ingress as a client that forgot its inbox prefix.
		"ingress, default inbox": cs.connectRaw(t, "ingress"),
	}
	cases := []struct {
		name       string
		user       string
		op         func(context.Context, *client) error
		wantDenied bool
	}{
		{"ingress cannot get a key", "ingress", kvGet(contracts.KeysBucket, "h.secret"), true},
		{"ingress cannot get key state", "ingress", kvGet(contracts.KeyStateBucket, "h.secret"), true},
		{"ingress cannot put a key", "ingress", publish("$KV.ocr_keys.h.forged"), true},
		{"ingress cannot read a key by direct get", "ingress", publish("$JS.API.DIRECT.GET.KV_ocr_keys.$KV.ocr_keys.h.secret"), true},
		{"ingress cannot watch the keys bucket", "ingress", subscribe("$KV.ocr_keys.>"), true},
		{"ingress cannot delete the keys bucket", "ingress", publish("$JS.API.STREAM.DELETE.KV_ocr_keys"), true},
		{"ingress cannot serve key requests", "ingress", subscribe(contracts.SubjectKeysVerify), true},
		{"ingress cannot forge usage events", "ingress", publish(contracts.SubjectEventsUsage), true},
		{"ingress cannot publish to an inbox at will", "ingress", publish("_INBOX.someone.1"), true},
		{"ingress cannot read the producer's inbox", "ingress", subscribe("_INBOX_producer.>"), true},
		{"ingress cannot read keyservice's inbox", "ingress", subscribe(contracts.KeyServiceInboxPrefix + ".>"), true},
		{"ingress cannot read analytics' inbox", "ingress", subscribe(contracts.AnalyticsInboxPrefix + ".>"), true},
		{"ingress cannot read the default inbox", "ingress", subscribe("_INBOX.>"), true},
		{"ingress cannot publish to keyservice's inbox", "ingress", publish(contracts.KeyServiceInboxPrefix + ".x.1"), true},
		{"ingress may read its own inbox", "ingress", subscribe(contracts.IngressInboxPrefix + ".>"), false},
		{"ingress without its prefix gets no reply", "ingress, default inbox", kvGet(contracts.JobsBucket, "job_1"), true},
		{"ingress may ask keyservice", "ingress", publish(contracts.SubjectKeysVerify), false},
		{"ingress may get its own records", "ingress", publish("$JS.API.STREAM.INFO.KV_ocr_jobs"), false},
		{"ingress may read results", "ingress", subscribe(contracts.ResultSubject("job_1")), false},

		{"worker cannot get a key", "ocr-worker", kvGet(contracts.KeysBucket, "h.secret"), true},
		{"worker cannot write key state", "ocr-worker", publish("$KV.ocr_key_state.c.x"), true},
		{"worker cannot ask keyservice", "ocr-worker", publish(contracts.SubjectKeysCreate), true},
		{"worker cannot serve key requests", "ocr-worker", subscribe("keys.v1.>"), true},
		{"worker cannot forge verification events", "ocr-worker", publish(contracts.SubjectEventsVerification), true},
		{"worker cannot read the producer's inbox", "ocr-worker", subscribe("_INBOX_producer.>"), true},
		{"worker cannot read the ingress's inbox", "ocr-worker", subscribe(contracts.IngressInboxPrefix + ".>"), true},
		{"worker cannot read keyservice's inbox", "ocr-worker", subscribe(contracts.KeyServiceInboxPrefix + ".>"), true},
		{"worker cannot read the default inbox", "ocr-worker", subscribe("_INBOX.>"), true},
		{"worker may read its own inbox", "ocr-worker", subscribe(contracts.WorkerInboxPrefix + ".>"), false},
		{"worker may publish results", "ocr-worker", publish(contracts.ResultSubject("job_1")), false},

		{"analytics cannot publish jobs", "analytics", publish(contracts.SubjectJobs), true},
		{"analytics cannot write keys", "analytics", publish("$KV.ocr_keys.h.forged"), true},
		{"analytics cannot get a key", "analytics", kvGet(contracts.KeysBucket, "h.secret"), true},
		{"analytics cannot publish events", "analytics", publish(contracts.SubjectEventsVerification), true},
		{"analytics cannot purge the events", "analytics", publish("$JS.API.STREAM.PURGE.OCR_EVENTS"), true},
		{"analytics cannot delete the events stream", "analytics", publish("$JS.API.STREAM.DELETE.OCR_EVENTS"), true},
		{"analytics cannot take another consumer's events", "analytics", publish("$JS.API.CONSUMER.MSG.NEXT.OCR_EVENTS.ingress-refunds"), true},
		{"analytics may read its consumer", "analytics", publish("$JS.API.CONSUMER.MSG.NEXT.OCR_EVENTS.analytics"), false},
		{"analytics may serve its queries", "analytics", subscribe(contracts.SubjectAnalyticsUsage), false},
		{"analytics cannot read keyservice's inbox", "analytics", subscribe(contracts.KeyServiceInboxPrefix + ".>"), true},
		{"analytics cannot read the ingress's inbox", "analytics", subscribe(contracts.IngressInboxPrefix + ".>"), true},

		{"keyservice cannot publish jobs", "keyservice", publish(contracts.SubjectJobs), true},
		{"keyservice cannot read results", "keyservice", subscribe(contracts.SubjectResultsAll), true},
		{"keyservice cannot read images", "keyservice", publish("$JS.API.STREAM.INFO.OBJ_ocr_images"), true},
		{"keyservice may get a key", "keyservice", kvGet(contracts.KeysBucket, "h.secret"), false},
		{"keyservice cannot read the ingress's inbox", "keyservice", subscribe(contracts.IngressInboxPrefix + ".>"), true},
		{"keyservice cannot read the worker's inbox", "keyservice", subscribe(contracts.WorkerInboxPrefix + ".>"), true},

		{"producer cannot read the default inbox", "producer", subscribe("_INBOX.>"), true},
		{"producer cannot read keyservice's inbox", "producer", subscribe(contracts.KeyServiceInboxPrefix + ".>"), true},
		{"producer cannot get a key", "producer", kvGet(contracts.KeysBucket, "h.secret"), true},
		{"producer cannot forge results", "producer", publish(contracts.ResultSubject("job_1")), true},
		{"producer cannot ask keyservice", "producer", publish(contracts.SubjectKeysCreate), true},
		{"producer may submit jobs", "producer", publish(contracts.SubjectJobs), false},
		{"producer may read results", "producer", subscribe(contracts.ResultSubject("job_1")), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			denied, err := clients[tc.user].try(t, tc.op)
			require.Equal(t, tc.wantDenied, denied, "denied=%v, err: %v", denied, err)
			if !tc.wantDenied {
				require.NoError(t, err)
			}
		})
	}

	// The server logged the refusals: the empty logs the other tests
	// require mean something.
	require.NotEmpty(t, cs.violations.lines())

	t.Run("a wrong or missing password is refused", func(t *testing.T) {
		u, err := url.Parse(cs.url("ingress"))
		require.NoError(t, err)
		u.User = url.UserPassword("ingress", "wrong")
		_, err = nats.Connect(u.String())
		require.ErrorIs(t, err, nats.ErrAuthorization)
		_, err = nats.Connect(cs.ns.ClientURL())
		require.ErrorIs(t, err, nats.ErrAuthorization)
	})
}

// TestNATSConfFlows drives, with the real users, the paths the stack test
// does not reach: an internal producer putting an image in the object store
// that a worker reads and reading a result back, the ingress's callbacks
// consumer, and an analytics query answered to the ingress.
func TestNATSConfFlows(t *testing.T) {
	cs := startConfNATS(t)
	ctx := t.Context()
	worker := cs.connect(t, "ocr-worker")
	ingress := cs.connect(t, "ingress")
	analytics := cs.connect(t, "analytics")
	producer := cs.connect(t, "producer")

	results, err := worker.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: contracts.ResultsStream, Subjects: []string{contracts.SubjectResultsAll}, MaxMsgsPerSubject: 1,
	})
	require.NoError(t, err)
	_, err = worker.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: contracts.ImagesBucket})
	require.NoError(t, err)

	t.Run("a producer's image reaches a worker through the object store", func(t *testing.T) {
		store, err := producer.js.ObjectStore(ctx, contracts.ImagesBucket)
		require.NoError(t, err)
		image := bytes.Repeat([]byte("scan"), 300<<10)
		_, err = store.PutBytes(ctx, "job_obj", image)
		require.NoError(t, err)
		wstore, err := worker.js.ObjectStore(ctx, contracts.ImagesBucket)
		require.NoError(t, err)
		got, err := wstore.GetBytes(ctx, "job_obj")
		require.NoError(t, err)
		require.Equal(t, image, got)
	})

	t.Run("a producer reads a result back from the stream", func(t *testing.T) {
		_, err := worker.js.Publish(ctx, contracts.ResultSubject("job_p"), []byte(`{"jobId":"job_p"}`))
		require.NoError(t, err)
		stream, err := producer.js.Stream(ctx, contracts.ResultsStream)
		require.NoError(t, err)
		m, err := stream.GetLastMsgForSubject(ctx, contracts.ResultSubject("job_p"))
		require.NoError(t, err)
		require.JSONEq(t, `{"jobId":"job_p"}`, string(m.Data))
	})

	t.Run("the ingress consumes results for callbacks", func(t *testing.T) {
		cons, err := ingress.js.CreateOrUpdateConsumer(ctx, results.CachedInfo().Config.Name, jetstream.ConsumerConfig{
			Durable: contracts.CallbacksConsumer, FilterSubject: contracts.SubjectResultsAll,
			DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		})
		require.NoError(t, err)
		_, err = worker.js.Publish(ctx, contracts.ResultSubject("job_cb"), []byte(`{"jobId":"job_cb"}`))
		require.NoError(t, err)
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		var got []string
		for m := range batch.Messages() {
			got = append(got, m.Subject())
			require.NoError(t, m.DoubleAck(ctx))
		}
		require.NoError(t, batch.Error())
		require.Equal(t, []string{contracts.ResultSubject("job_cb")}, got)
	})

	t.Run("the ingress asks analytics", func(t *testing.T) {
		sub, err := analytics.nc.QueueSubscribe(contracts.SubjectAnalyticsUsage, contracts.AnalyticsQueue, func(m *nats.Msg) {
			_ = m.Respond([]byte(`{"jobs":1}`))
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })
		require.NoError(t, analytics.nc.Flush())
		reply, err := ingress.nc.Request(contracts.SubjectAnalyticsUsage, []byte(`{}`), 5*time.Second)
		require.NoError(t, err)
		require.JSONEq(t, `{"jobs":1}`, string(reply.Data))
	})
	require.Empty(t, cs.violations.lines())
}

// TestNATSConfStack runs the four real services against nats.conf, each
// with its own user, and drives an OCR request with a small image, one with
// an image large enough for the object store (with an Idempotency-Key) and
// the analytics rows they produce: a permission a service needs and lacks
// breaks one of them, and the server must report no violation at all.
func TestNATSConfStack(t *testing.T) {
	cs := startConfNATS(t)
	s := startStack(t, stackNATS{natsURL: cs.url})

	status, body := postJSON(t, s.url+"/signup", "", `{"email":"ada@example.com","name":"Ada"}`)
	require.Equal(t, 200, status, body)
	var signup struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &signup))
	require.Len(t, signup.Keys, 1)
	key := signup.Keys[0].Key

	small, err := textimage.PNG([]string{"Least privilege works"}, 40)
	require.NoError(t, err)
	status, body = postFile(t, s.url+"/upload", key, "sampleFile", small, nil)
	require.Equal(t, 200, status, body)
	require.Contains(t, normalize(body), "Least privilege works")

	lines := make([]string, 40)
	for i := range lines {
		lines[i] = "A large scan goes through the object store"
	}
	largePNG, err := textimage.PNG(lines, 40)
	require.NoError(t, err)
	large := pgm(t, largePNG)
	require.Greater(t, len(large), contracts.InlineImageMax)
	status, body = postFileHeader(t, s.url+"/api/v1/ocr", key, "image", large, map[string]string{"Idempotency-Key": "natsconf-1"})
	require.Equal(t, 200, status, body)
	require.Contains(t, normalize(body), "A large scan goes through the object store")

	count := func(q string) uint64 {
		var n uint64
		if err := s.ch.QueryRow(context.Background(), q).Scan(&n); err != nil {
			return 0
		}
		return n
	}
	require.Eventually(t, func() bool {
		return count("SELECT count() FROM "+s.database+".verifications FINAL WHERE outcome = 'VALID' AND owner_id = 'ada@example.com'") >= 2 &&
			count("SELECT count() FROM "+s.database+".usage FINAL WHERE outcome = 'succeeded' AND owner_id = 'ada@example.com'") >= 2
	}, 30*time.Second, 200*time.Millisecond, "events did not reach ClickHouse")
	s.alive(t)
	require.Empty(t, cs.violations.lines(), "the server refused a service something it needs")
}

// TestNATSConfCluster runs the four real services on a 3-node cluster of
// nats.conf, each with its own user and connected to another node than
// the service it talks to, all with OCR_NATS_REPLICAS=3 (as
// deploy/k8s/config.yaml sets it): every stream and bucket they create is
// R3 with two peers besides its leader, the consumers follow their
// streams, an OCR request goes through, and the server reports no
// permission violation (the private inboxes work across routes).
func TestNATSConfCluster(t *testing.T) {
	cs := startConfCluster(t, 3)
	node := map[string]int{"keyservice": 0, "ocr-worker": 1, "analytics": 2, "ingress": 1}
	s := startStack(t, stackNATS{
		natsURL: func(service string) string { return cs.urlAt(node[service], service) },
		env:     []string{"OCR_NATS_REPLICAS=3"},
	})

	status, body := postJSON(t, s.url+"/signup", "", `{"email":"r3@example.com","name":"R3"}`)
	require.Equal(t, 200, status, body)
	var signup struct {
		Keys []struct{ Key string } `json:"keys"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &signup))
	require.Len(t, signup.Keys, 1)
	img, err := textimage.PNG([]string{"Three replicas"}, 40)
	require.NoError(t, err)
	status, body = postFileHeader(t, s.url+"/api/v1/ocr", signup.Keys[0].Key, "image", img, map[string]string{"Idempotency-Key": "r3-1"})
	require.Equal(t, 200, status, body)
	require.Contains(t, normalize(body), "Three replicas")

	admin := cs.connect(t, "admin")
	ctx := t.Context()
	streams := []string{
		contracts.JobsStream, contracts.ResultsStream, contracts.EventsStream, contracts.DeadStream,
		"OBJ_" + contracts.ImagesBucket, "KV_" + contracts.JobsBucket, "KV_" + contracts.IdempotencyBucket,
		"KV_" + contracts.KeysBucket, "KV_" + contracts.KeyStateBucket,
	}
	for _, name := range streams {
		t.Run(name, func(t *testing.T) {
			stream, err := admin.js.Stream(ctx, name)
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				info, err := stream.Info(ctx)
				return err == nil && info.Config.Replicas == 3 && info.Cluster != nil && len(info.Cluster.Replicas) == 2
			}, 10*time.Second, 100*time.Millisecond, "%s is not R3 on three servers", name)
		})
	}
	consumers := map[string]string{
		contracts.JobsConsumer:   contracts.JobsStream,
		contracts.EventsConsumer: contracts.EventsStream,
		"ingress-refunds":        contracts.EventsStream,
	}
	for cons, stream := range consumers {
		t.Run(cons, func(t *testing.T) {
			c, err := admin.js.Consumer(ctx, stream, cons)
			require.NoError(t, err)
			info := c.CachedInfo()
			require.NotNil(t, info.Cluster)
			require.Len(t, info.Cluster.Replicas, 2, "consumer %s on %s is not replicated", cons, stream)
		})
	}
	s.alive(t)
	require.Empty(t, cs.violations.lines(), "the server refused a service something it needs")
}

// postFileHeader posts data as the multipart file field, with the key as a
// Bearer token and extra request headers.
func postFileHeader(t *testing.T, url, key, field string, data []byte, headers map[string]string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, "scan.pgm")
	require.NoError(t, err)
	_, _ = fw.Write(data)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, url, &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// violationLog is a server.Logger that keeps the permission violations the
// server logs and drops the rest.
type violationLog struct {
	mu  sync.Mutex
	got []string
}

func (l *violationLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func (l *violationLog) keep(format string, v ...any) {
	line := fmt.Sprintf(format, v...)
	if strings.Contains(line, "Violation") {
		l.mu.Lock()
		l.got = append(l.got, line)
		l.mu.Unlock()
	}
}

func (l *violationLog) Noticef(format string, v ...any) { l.keep(format, v...) }
func (l *violationLog) Warnf(format string, v ...any)   { l.keep(format, v...) }
func (l *violationLog) Fatalf(format string, v ...any)  { l.keep(format, v...) }
func (l *violationLog) Errorf(format string, v ...any)  { l.keep(format, v...) }
func (l *violationLog) Debugf(format string, v ...any)  {}
func (l *violationLog) Tracef(format string, v ...any)  {}
