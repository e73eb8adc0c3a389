package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/report"
)

// pushMetrics adds the run's metrics (those of report.WriteMetrics) to the group
// job=<job> of the Prometheus Pushgateway at gateway (--pushgateway, SPEC
// §3), for Kubernetes Jobs and CronJobs, which no Prometheus scrapes while
// they run. Call it after s.Finish, once the exit code is known.
//
// It uses the Pushgateway's POST (push.Pusher.Add), which replaces only the
// metric families it sends: a run that did not succeed sends no
// tokenreg_last_success_timestamp_seconds (report.Succeeded), so the last success's time stays
// in the group and an alert on its age keeps working (Prometheus'
// guidance for batch jobs). The group is the job name plus grouping (e.g.
// shard=2/4 for one pod of an Indexed Job), never an instance label: a
// Job's pod is new every run.
//
// gateway is the Pushgateway's base URL (http://pushgateway:9091). It must
// not hold a user name or password (they would show in ps); client may be
// nil for http.DefaultClient. The error names the gateway, never a secret.
func pushMetrics(ctx context.Context, gateway, job string, grouping map[string]string, s *report.Summary, client *http.Client) error {
	if job == "" {
		job = "tokenreg"
	}
	u, err := parsePushgateway(gateway)
	if err != nil {
		return err
	}
	reg, err := s.Metrics(nil)
	if err != nil {
		return err
	}
	p := push.New(u.String(), job).Gatherer(reg)
	for name, value := range grouping {
		p = p.Grouping(name, value)
	}
	if client != nil {
		p = p.Client(client)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to %s: %w", u.Redacted(), err)
	}
	return nil
}

// parsePushgateway checks a Pushgateway base URL: http or https, a host,
// no credentials, no query.
func parsePushgateway(gateway string) (*url.URL, error) {
	u, err := url.Parse(gateway)
	if err != nil {
		// Not err itself: a *url.Error quotes the whole URL, password too.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("pushgateway URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("pushgateway URL %q: want http:// or https://, e.g. http://pushgateway:9091", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("pushgateway URL %q has no host", u.Redacted())
	case u.User != nil:
		return nil, fmt.Errorf("pushgateway URL %q holds credentials, which would show in ps: put an authenticating proxy or a network policy in front of the Pushgateway instead", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("pushgateway URL %q: a query or fragment has no meaning here", u.Redacted())
	}
	return u, nil
}

// checkPushgateway checks --pushgateway before the run, so that a typo stops
// it before anything is sent. The flag package would echo a bad value, and
// with it a password: the error shows the URL redacted.
func checkPushgateway(gateway string) error {
	if gateway == "" {
		return nil
	}
	if _, err := parsePushgateway(gateway); err != nil {
		return usagef("--pushgateway: %v", err)
	}
	return nil
}

// pushTimeout bounds the push at the end of a run: a Pushgateway that does
// not answer must not hold a finished Job's pod.
const pushTimeout = 15 * time.Second

// pushRun pushes a finished run's metrics for --pushgateway. It runs after
// the result is safe, so a failed push is logged, and changes neither the
// result nor the exit code (the "no success" alert notices a missing push).
// It does not use the run's context: an interrupted run's metrics (exit
// 130) are pushed too.
func pushRun(gateway string, shard batch.Shard, sum *report.Summary, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	var grouping map[string]string
	if shard.N > 1 {
		// Each pod of an Indexed Job keeps its own group: with one group,
		// the last pod's push would replace the others' rows.
		grouping = map[string]string{"shard": shard.String()}
	}
	if err := pushMetrics(ctx, gateway, "tokenreg", grouping, sum, nil); err != nil {
		logger.Error("--pushgateway: the run's metrics were not pushed", "err", err)
		return
	}
	logger.Info("pushed metrics", "pushgateway", gateway, "job", "tokenreg", "shard", shard.String())
}
