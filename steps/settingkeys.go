package steps

import "strings"

// tencentClientKey names the setting a tencent.NewClient error is about, so that Build.ErrorAt reports it
// at that value: the base URL, or the first credential that is empty.
func tencentClientKey(cfg tencentListConfig, err error) string {
	if strings.Contains(err.Error(), "base URL") {
		return "base_url"
	}
	for _, f := range []struct{ name, v string }{
		{"secret_id", cfg.SecretID}, {"secret_key", cfg.SecretKey}, {"enterprise_id", cfg.EnterpriseID},
	} {
		if strings.TrimSpace(f.v) == "" {
			return f.name
		}
	}
	return ""
}
