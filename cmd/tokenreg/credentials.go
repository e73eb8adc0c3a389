package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tokenreg/tokenreg/client"
)

// credentials merges, lowest precedence first: the environment, the
// --credentials file, then the --url and --admin flags.
func credentials(env environ, file, urlFlag, adminFlag string) (client.Credentials, error) {
	get := env.getenv
	if file != "" {
		vals, err := client.ReadCredentialsFile(file)
		if err != nil {
			return client.Credentials{}, fmt.Errorf("--credentials: %w", err) // wraps client.ErrCredentialsFile
		}
		get = func(k string) string {
			if v, ok := vals[k]; ok {
				return v
			}
			return env.getenv(k)
		}
	}
	c := client.Credentials{
		URL:        get("CENTAGATE_URL"),
		Admin:      get("CENTAGATE_ADMIN"),
		AuthToken:  get("CENTAGATE_AUTH_TOKEN"),
		SecretCode: get("CENTAGATE_SECRET_CODE"),
	}
	if urlFlag != "" {
		c.URL = urlFlag
	}
	if adminFlag != "" {
		c.Admin = adminFlag
	}
	if err := c.Check(); err != nil {
		var me *client.MissingError
		if !errors.As(err, &me) {
			return c, err
		}
		how := map[client.Setting]string{
			client.SettingURL:        "--url or CENTAGATE_URL",
			client.SettingAdmin:      "--admin or CENTAGATE_ADMIN",
			client.SettingAuthToken:  "CENTAGATE_AUTH_TOKEN",
			client.SettingSecretCode: "CENTAGATE_SECRET_CODE",
		}
		var names []string
		for _, s := range me.Missing {
			names = append(names, fmt.Sprintf("%s (%s)", s, how[s]))
		}
		return c, fmt.Errorf("%w: missing %s; set them in the environment or in a --credentials file", client.ErrCredentials, strings.Join(names, ", "))
	}
	return c, nil
}
