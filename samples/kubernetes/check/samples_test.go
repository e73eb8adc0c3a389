// Package check tests the Kubernetes samples in samples/kubernetes: every
// manifest decodes strictly into the k8s.io/api types (an unknown or
// misspelt field is an error, as `kubectl apply --validate=strict` would
// say), and the pods of the Jobs run as Kubernetes would run them — the
// image's entrypoint (tokenreg) with the container's args, $(VAR) expanded
// from the container's env, envFrom the Secret sample, JOB_COMPLETION_INDEX
// for each index of the Indexed Job, init containers first, as user 65532
// with the volumes owned by fsGroup 65532 — against the simulator on
// 127.0.0.1.
//
// Two things differ from a cluster, and only these: an address of the
// cluster (the CENTAGATE_URL of the Secret, the Pushgateway's and the HR
// export's URLs) becomes a server on 127.0.0.1 that the test starts, and a
// volume's mountPath in an argument becomes the directory that stands for
// the volume (an argument naming an absolute path outside every volume is an
// error: the pod could not write it).
//
// It is its own Go module so that k8s.io/api stays out of tokenreg's module
// graph and out of `make test`; scripts/e2e-kubernetes.sh runs it (make e2e)
// after `make build`, with -bin pointing at bin/.
package check

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var binDir = flag.String("bin", "../../../bin", "directory holding tokenreg and centagate-sim (make build)")

const (
	samplesDir = ".."        // samples/kubernetes
	repoSample = "../.."     // samples/
	podUser    = 65532       // the image's user and the manifests' runAsUser and fsGroup
	entrypoint = "tokenreg"  // the image's ENTRYPOINT (Containerfile)
	imageRepo  = "tokenreg:" // how the samples name the image
	timeout    = 2 * time.Minute
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The pods run in their own working directories.
	abs, err := filepath.Abs(*binDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	*binDir = abs
	os.Exit(m.Run())
}

// manifests decodes every document of every YAML file in samples/kubernetes
// strictly, by kind.
func manifests(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", samplesDir, err)
	}
	byKind := map[string][]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			var obj any
			var wantAPI string
			switch meta.Kind {
			case "Secret":
				obj, wantAPI = &corev1.Secret{}, "v1"
			case "PersistentVolumeClaim":
				obj, wantAPI = &corev1.PersistentVolumeClaim{}, "v1"
			case "Job":
				obj, wantAPI = &batchv1.Job{}, "batch/v1"
			case "CronJob":
				obj, wantAPI = &batchv1.CronJob{}, "batch/v1"
			default:
				t.Fatalf("%s document %d: kind %q: the test does not know it; teach it before adding such a sample", f, i+1, meta.Kind)
			}
			if meta.APIVersion != wantAPI {
				t.Errorf("%s document %d: %s has apiVersion %q, want %q", f, i+1, meta.Kind, meta.APIVersion, wantAPI)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s document %d (%s): %v", f, i+1, meta.Kind, err)
				continue
			}
			byKind[meta.Kind] = append(byKind[meta.Kind], obj)
		}
	}
	return byKind
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestManifests: the samples decode strictly and hold together: one Secret,
// the claims the Jobs mount exist, no container runs a shell, every
// tokenreg container runs as a non-root user, the Indexed Job's shard count
// is its completions, and the merge Job names every shard's result.
func TestManifests(t *testing.T) {
	m := manifests(t)
	for kind, n := range map[string]int{"Secret": 1, "PersistentVolumeClaim": 3, "Job": 2, "CronJob": 1} {
		if len(m[kind]) != n {
			t.Errorf("%d %s manifests, want %d", len(m[kind]), kind, n)
		}
	}
	claims := map[string]bool{}
	for _, o := range m["PersistentVolumeClaim"] {
		claims[o.(*corev1.PersistentVolumeClaim).Name] = true
	}
	var pods []corev1.PodSpec
	for _, o := range m["Job"] {
		pods = append(pods, o.(*batchv1.Job).Spec.Template.Spec)
	}
	for _, o := range m["CronJob"] {
		pods = append(pods, o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Spec)
	}
	for _, p := range pods {
		for _, v := range p.Volumes {
			if v.PersistentVolumeClaim != nil && !claims[v.PersistentVolumeClaim.ClaimName] {
				t.Errorf("volume %s mounts claim %q, which volumes.yaml does not create", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
			if v.ConfigMap != nil {
				t.Errorf("volume %s is a ConfigMap: 1 MiB at most, too small for an inventory", v.Name)
			}
		}
		if p.SecurityContext == nil || p.SecurityContext.RunAsUser == nil || *p.SecurityContext.RunAsUser != podUser ||
			p.SecurityContext.FSGroup == nil || *p.SecurityContext.FSGroup != podUser {
			t.Errorf("a pod does not run as user %d with fsGroup %d (the image's user)", podUser, podUser)
		}
		if p.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("restartPolicy %q, want Never (a Job's pod that exits 1 is done)", p.RestartPolicy)
		}
		for _, c := range append(slices.Clone(p.InitContainers), p.Containers...) {
			if len(c.Command) > 0 && (filepath.Base(c.Command[0]) == "sh" || filepath.Base(c.Command[0]) == "bash") {
				t.Errorf("container %s runs a shell (%v): tokenreg's image has none", c.Name, c.Command)
			}
			if strings.Contains(c.Image, imageRepo) && len(c.Command) > 0 {
				t.Errorf("container %s overrides tokenreg's entrypoint with %v", c.Name, c.Command)
			}
		}
	}
	for _, o := range m["Job"] {
		j := o.(*batchv1.Job)
		if j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion {
			continue
		}
		n := int(*j.Spec.Completions)
		want := fmt.Sprintf("--shard=$(JOB_COMPLETION_INDEX)/%d", n)
		if !slices.Contains(j.Spec.Template.Spec.Containers[0].Args, want) {
			t.Errorf("the Indexed Job has %d completions but its args %v lack %s", n, j.Spec.Template.Spec.Containers[0].Args, want)
		}
	}
}

// secretEnv is the Secret sample's data, as envFrom gives it to a container.
func secretEnv(t *testing.T, m map[string][]any) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, o := range m["Secret"] {
		s := o.(*corev1.Secret)
		env := map[string]string{}
		for k, v := range s.Data {
			env[k] = string(v)
		}
		for k, v := range s.StringData {
			env[k] = v
		}
		out[s.Name] = env
	}
	return out
}

// cluster is what stands for the cluster: the Secret, the claims'
// directories, and the addresses that become 127.0.0.1.
type cluster struct {
	secrets   map[string]map[string]string
	claims    map[string]string // claim name -> directory
	overrides map[string]string // env var -> value on 127.0.0.1
}

// pod runs one pod of spec: init containers in order, then the containers
// (a Job's pods here have one), each to its end. index is the completion
// index, or -1. It returns the exit code of each container, by name.
func (c *cluster) pod(t *testing.T, spec corev1.PodSpec, index int) map[string]int {
	t.Helper()
	vols := map[string]string{} // volume name -> directory
	for _, v := range spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			dir, ok := c.claims[v.PersistentVolumeClaim.ClaimName]
			if !ok {
				t.Fatalf("volume %s: no directory for claim %s", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
			vols[v.Name] = dir
		case v.EmptyDir != nil:
			vols[v.Name] = volumeDir(t, "emptydir-"+v.Name)
		default:
			t.Fatalf("volume %s: the test knows claims and emptyDirs only", v.Name)
		}
	}
	codes := map[string]int{}
	for _, ct := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		code := c.run(t, ct, vols, index)
		codes[ct.Name] = code
		if slices.ContainsFunc(spec.InitContainers, func(i corev1.Container) bool { return i.Name == ct.Name }) && code != 0 {
			t.Fatalf("init container %s exited %d: the pod would not start", ct.Name, code)
		}
	}
	return codes
}

// run executes one container as the kubelet would, and returns its exit code.
func (c *cluster) run(t *testing.T, ct corev1.Container, vols map[string]string, index int) int {
	t.Helper()
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, ef := range ct.EnvFrom {
		if ef.SecretRef == nil {
			t.Fatalf("container %s: envFrom other than a Secret", ct.Name)
		}
		s, ok := c.secrets[ef.SecretRef.Name]
		if !ok {
			t.Fatalf("container %s: envFrom Secret %s: no such sample", ct.Name, ef.SecretRef.Name)
		}
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(ef.Prefix+k, s[k])
		}
	}
	if index >= 0 {
		// The Job controller adds it to every container of an Indexed Job's pod.
		set("JOB_COMPLETION_INDEX", strconv.Itoa(index))
	}
	for _, e := range ct.Env {
		if e.ValueFrom != nil {
			t.Fatalf("container %s: env %s: valueFrom is not simulated", ct.Name, e.Name)
		}
		set(e.Name, expand(e.Value, env))
	}
	for k, v := range c.overrides {
		if _, ok := env[k]; ok {
			env[k] = v
		}
	}
	var argv []string
	if len(ct.Command) > 0 {
		for _, a := range ct.Command {
			argv = append(argv, expand(a, env))
		}
	} else {
		if !strings.Contains(ct.Image, imageRepo) {
			t.Fatalf("container %s: image %s without a command: the test knows tokenreg's entrypoint only", ct.Name, ct.Image)
		}
		argv = []string{entrypoint}
	}
	for _, a := range ct.Args {
		argv = append(argv, expand(a, env))
	}
	for i := 1; i < len(argv); i++ {
		argv[i] = c.mapPath(t, ct, argv[i], vols)
	}
	path := filepath.Join(*binDir, argv[0])
	if argv[0] != entrypoint {
		p, err := exec.LookPath(argv[0])
		if err != nil {
			t.Fatalf("container %s runs %s, which is not installed here (make e2e installs it): %v", ct.Name, argv[0], err)
		}
		path = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Dir = volumeDir(t, "workdir") // the image's WORKDIR /tmp
	for _, k := range order {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: podUser, Gid: podUser}}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Logf("container %s (index %d): %s", ct.Name, index, strings.Join(argv, " "))
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("container %s: %v", ct.Name, err)
	}
	t.Logf("container %s (index %d) exited %d:\n%s", ct.Name, index, code, tail(out.String(), 20))
	return code
}

// expand is Kubernetes' $(VAR) expansion of command, args and env values:
// $(VAR) becomes VAR's value when VAR is defined, and stays as written
// otherwise; $$ is a literal $.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// mapPath replaces a volume's mountPath at the start of an argument (or of
// its value after "=") with the volume's directory.
func (c *cluster) mapPath(t *testing.T, ct corev1.Container, arg string, vols map[string]string) string {
	prefix, p := "", arg
	if i := strings.Index(arg, "=/"); strings.HasPrefix(arg, "-") && i >= 0 {
		prefix, p = arg[:i+1], arg[i+1:]
	}
	if !strings.HasPrefix(p, "/") {
		return arg
	}
	for _, vm := range ct.VolumeMounts {
		mp := strings.TrimSuffix(vm.MountPath, "/")
		if p == mp || strings.HasPrefix(p, mp+"/") {
			dir, ok := vols[vm.Name]
			if !ok {
				t.Fatalf("container %s mounts %s, which the pod does not define", ct.Name, vm.Name)
			}
			return prefix + dir + strings.TrimPrefix(p, mp)
		}
	}
	t.Fatalf("container %s: argument %q names %s, outside every volume: the pod's root file system is read-only", ct.Name, arg, p)
	return ""
}

// volumeDir is a directory owned by the pods' fsGroup, as the kubelet
// prepares a volume.
func volumeDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "k8s-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o2775); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if err := os.Chown(dir, 0, podUser); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// sim is bin/centagate-sim with samples/sim-state.json, expecting the
// Secret's credentials.
type sim struct {
	cmd *exec.Cmd
	out bytes.Buffer
	url string
}

func startSim(t *testing.T, creds map[string]string) *sim {
	t.Helper()
	dir := t.TempDir()
	addr := filepath.Join(dir, "addr")
	s := &sim{}
	s.cmd = exec.Command(filepath.Join(*binDir, "centagate-sim"), "-state", filepath.Join(repoSample, "sim-state.json"), "-addr-file", addr)
	s.cmd.Env = []string{"CENTAGATE_ADMIN=" + creds["CENTAGATE_ADMIN"], "CENTAGATE_AUTH_TOKEN=" + creds["CENTAGATE_AUTH_TOKEN"], "CENTAGATE_SECRET_CODE=" + creds["CENTAGATE_SECRET_CODE"]}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start the simulator (make build first): %v", err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(addr); err == nil && len(b) > 0 {
			s.url = strings.TrimSpace(string(b))
			return s
		}
	}
	t.Fatalf("the simulator did not start: %s", s.out.String())
	return nil
}

// stop ends the simulator and returns its counts of tokens registered and
// registered twice.
func (s *sim) stop(t *testing.T) (registered, twice int) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	m := regexp.MustCompile(`registrations\s+(\d+) tokens, (\d+) registered twice`).FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("no registration count in the simulator's statistics:\n%s", s.out.String())
	}
	registered, _ = strconv.Atoi(m[1])
	twice, _ = strconv.Atoi(m[2])
	return registered, twice
}

// expected is samples/tokens.expected.csv: line -> "status code".
func expected(t *testing.T) map[int]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoSample, "tokens.expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, r := range recs[1:] {
		l, _ := strconv.Atoi(r[0])
		out[l] = r[1] + " " + r[2]
	}
	return out
}

// results reads a result file: line -> status, code and message; a line
// with two rows is an error.
func results(t *testing.T, path string) map[int][3]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[int][3]string{}
	for _, r := range recs[1:] {
		l, _ := strconv.Atoi(r[0])
		if _, dup := out[l]; dup {
			t.Errorf("%s: line %d has two rows", path, l)
		}
		out[l] = [3]string{r[4], r[5], r[6]}
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIndexedJob runs the migration's 4 pods at once, then the merge Job, on
// samples/tokens.csv: the shards together register the inventory once, each
// row is reported by its own shard only, and the merged result is the one
// run's expected result.
func TestIndexedJob(t *testing.T) {
	m := manifests(t)
	var job, merge *batchv1.Job
	for _, o := range m["Job"] {
		j := o.(*batchv1.Job)
		if j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion {
			job = j
		} else {
			merge = j
		}
	}
	if job == nil || merge == nil {
		t.Fatal("want an Indexed Job and a merge Job among the samples")
	}
	c := &cluster{secrets: secretEnv(t, m), claims: map[string]string{
		"token-inventory":  volumeDir(t, "token-inventory"),
		"tokenreg-results": volumeDir(t, "tokenreg-results"),
	}}
	copyFile(t, filepath.Join(repoSample, "tokens.csv"), filepath.Join(c.claims["token-inventory"], "token-inventory.csv"))
	s := startSim(t, c.secrets["tokenreg-credentials"])
	c.overrides = map[string]string{"CENTAGATE_URL": s.url}

	n := int(*job.Spec.Completions)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() { codes[k] = c.pod(t, job.Spec.Template.Spec, k)["tokenreg"] })
	}
	wg.Wait()
	lines := len(expected(t))
	for k := range n {
		r := results(t, filepath.Join(c.claims["tokenreg-results"], fmt.Sprintf("shard-%d.result.csv", k)))
		if len(r) != lines {
			t.Errorf("shard %d's result has %d lines, want all %d", k, len(r), lines)
		}
		notOK := 0
		for _, row := range r {
			if row[0] == "failed" || row[0] == "error" || row[0] == "invalid" {
				notOK++
			}
		}
		// A shard whose own rows are all ok exits 0, whatever the others hold.
		want := 0
		if notOK > 0 {
			want = 1
		}
		if codes[k] != want {
			t.Errorf("shard %d exited %d with %d rows not ok, want %d", k, codes[k], notOK, want)
		}
	}

	if code := c.pod(t, merge.Spec.Template.Spec, -1)["tokenreg"]; code != 0 {
		t.Fatalf("the merge Job exited %d", code)
	}
	checkExpected(t, filepath.Join(c.claims["tokenreg-results"], "merged.result.csv"))
	if _, err := os.Stat(filepath.Join(c.claims["tokenreg-results"], "merged.summary.json")); err != nil {
		t.Errorf("the merge Job wrote no summary: %v", err)
	}
	registered, twice := s.stop(t)
	if registered != 21 || twice != 0 {
		t.Errorf("the simulator registered %d tokens (%d twice), want 21, none twice", registered, twice)
	}
}

// checkExpected compares a result with samples/tokens.expected.csv.
func checkExpected(t *testing.T, path string) {
	t.Helper()
	want := expected(t)
	got := results(t, path)
	if len(got) != len(want) {
		t.Errorf("%s has %d lines, want %d", path, len(got), len(want))
	}
	for l, w := range want {
		if g := got[l][0] + " " + got[l][1]; g != w {
			t.Errorf("%s line %d: %s (%s), want %s", path, l, g, got[l][2], w)
		}
	}
}

// TestCronJob runs two nights of the CronJob: the init container fetches
// the inventory from an HTTP server (curl, as the sample's image runs it),
// tokenreg registers it with the ledger on the state volume and pushes its
// metrics; the second night sends nothing the first registered.
func TestCronJob(t *testing.T) {
	m := manifests(t)
	cj := m["CronJob"][0].(*batchv1.CronJob)
	inventory, err := os.ReadFile(filepath.Join(repoSample, "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	hr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/exports/token-inventory.csv" {
			http.NotFound(w, r)
			return
		}
		w.Write(inventory)
	}))
	defer hr.Close()
	var mu sync.Mutex
	var pushes []string
	pgw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		pushes = append(pushes, r.Method+" "+r.URL.Path)
		mu.Unlock()
	}))
	defer pgw.Close()

	c := &cluster{secrets: secretEnv(t, m), claims: map[string]string{"tokenreg-state": volumeDir(t, "tokenreg-state")}}
	s := startSim(t, c.secrets["tokenreg-credentials"])
	c.overrides = map[string]string{
		"CENTAGATE_URL":   s.url,
		"INVENTORY_URL":   hr.URL + "/exports/token-inventory.csv",
		"PUSHGATEWAY_URL": pgw.URL,
	}
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	result := filepath.Join(c.claims["tokenreg-state"], "nightly.result.csv")

	// Night 1: the sample's rows meet their expected outcomes (exit 1: some fail).
	if code := c.pod(t, spec, -1)["tokenreg"]; code != 1 {
		t.Fatalf("night 1: tokenreg exited %d, want 1", code)
	}
	checkExpected(t, result)
	// Night 2: the ledger skips what night 1 registered.
	if code := c.pod(t, spec, -1)["tokenreg"]; code != 1 {
		t.Fatalf("night 2: tokenreg exited %d, want 1 (the failing rows fail again)", code)
	}
	ok, ledger := 0, 0
	for _, r := range results(t, result) {
		switch {
		case r[0] == "ok":
			ok++
		case r[0] == "skipped" && strings.HasSuffix(r[2], "(ledger)"):
			ledger++
		}
	}
	if ok != 0 || ledger != 21 {
		t.Errorf("night 2: %d rows ok, %d skipped by the ledger; want 0 and 21", ok, ledger)
	}
	registered, twice := s.stop(t)
	if registered != 21 || twice != 0 {
		t.Errorf("the simulator registered %d tokens (%d twice), want 21, none twice", registered, twice)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"POST /metrics/job/tokenreg", "POST /metrics/job/tokenreg"}; !slices.Equal(pushes, want) {
		t.Errorf("pushes to the Pushgateway: %v, want %v", pushes, want)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"JOB_COMPLETION_INDEX": "3", "A": "x"}
	for in, want := range map[string]string{
		"--shard=$(JOB_COMPLETION_INDEX)/4": "--shard=3/4",
		"$(A)$(A)-$(UNSET)":                 "xx-$(UNSET)",
		"$$(A) costs $5":                    "$(A) costs $5",
		"$(A":                               "$(A",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}
