package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// config is everything skiff-echo reads from its environment.
type config struct {
	addr          string        // ":" + $PORT
	filesDir      string        // $FILES_DIR, served under /files/
	healthzFail   bool          // $HEALTHZ_FAIL: /healthz fails from the start
	readyzFail    bool          // $READYZ_FAIL: /readyz fails from the start
	readyAfter    time.Duration // $READY_AFTER: /readyz fails until this long after start
	shutdownDelay time.Duration // $SHUTDOWN_DELAY: serving goes on this long after SIGTERM
	listenDelay   time.Duration // $LISTEN_DELAY: start-up time before listening
	maxBurn       time.Duration // cap of /burn
	maxSleep      time.Duration // cap of /sleep

	loadURL     string        // $LOAD_URL: send load there (none if empty)
	loadRate    float64       // $LOAD_RATE: requests per second
	loadTimeout time.Duration // $LOAD_TIMEOUT: a request slower than this failed
	loadReport  time.Duration // $LOAD_REPORT: how often the counters are logged (0: never)
}

func defaultConfig() config {
	return config{
		addr:     ":8080",
		filesDir: "/data",
		maxBurn:  60 * time.Second,
		maxSleep: 10 * time.Minute,

		loadRate:    50,
		loadTimeout: 2 * time.Second,
		loadReport:  10 * time.Second,
	}
}

// configFromEnv reads the configuration through getenv (os.Getenv outside
// tests). It reports every malformed variable at once.
func configFromEnv(getenv func(string) string) (config, error) {
	cfg := defaultConfig()
	var errs []error
	if v := getenv("PORT"); v != "" {
		if p, err := strconv.ParseUint(v, 10, 16); err != nil || p == 0 {
			errs = append(errs, fmt.Errorf("PORT=%q: not a port number", v))
		} else {
			cfg.addr = ":" + v
		}
	}
	if v := getenv("FILES_DIR"); v != "" {
		cfg.filesDir = v
	}
	boolVar := func(name string, dst *bool) {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want 1, 0, true or false", name, v))
			}
			*dst = b
		}
	}
	durationVar := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := parseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
			*dst = d
		}
	}
	boolVar("HEALTHZ_FAIL", &cfg.healthzFail)
	boolVar("READYZ_FAIL", &cfg.readyzFail)
	durationVar("READY_AFTER", &cfg.readyAfter)
	durationVar("SHUTDOWN_DELAY", &cfg.shutdownDelay)
	durationVar("LISTEN_DELAY", &cfg.listenDelay)
	if v := getenv("LOAD_URL"); v != "" {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("LOAD_URL=%q: want an http:// or https:// URL", v))
		}
		cfg.loadURL = v
	}
	if v := getenv("LOAD_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0 && r <= maxLoadRate) {
			errs = append(errs, fmt.Errorf("LOAD_RATE=%q: want requests per second, more than 0 and at most %d", v, maxLoadRate))
		}
		cfg.loadRate = r
	}
	durationVar("LOAD_TIMEOUT", &cfg.loadTimeout)
	if cfg.loadTimeout == 0 {
		errs = append(errs, errors.New("LOAD_TIMEOUT: must be more than 0"))
	}
	durationVar("LOAD_REPORT", &cfg.loadReport)
	return cfg, errors.Join(errs...)
}

// maxLoadRate bounds $LOAD_RATE: the loader starts a goroutine and a
// connection per request.
const maxLoadRate = 10000

// errBadDuration is returned for a duration that is neither a Go duration
// ("1.5s") nor a whole number of seconds, or is negative.
var errBadDuration = errors.New(`want a duration such as "2s" or a number of seconds`)

func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errBadDuration
	}
	return d, nil
}
