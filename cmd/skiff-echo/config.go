package main

import (
	"errors"
	"fmt"
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
	maxBurn       time.Duration // cap of /burn
	maxSleep      time.Duration // cap of /sleep
}

func defaultConfig() config {
	return config{
		addr:     ":8080",
		filesDir: "/data",
		maxBurn:  60 * time.Second,
		maxSleep: 10 * time.Minute,
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
	return cfg, errors.Join(errs...)
}

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
