package config

// Setting names, as shown on the /config page and in logs. A detector's
// settings are named by DetectorSetting.
const (
	SettingClusters          = "clusters"
	SettingSearchInterval    = "search_interval"
	SettingTrainInterval     = "train_interval"
	SettingBucket            = "bucket"
	SettingMaxDocs           = "max_docs"
	SettingAlertSeverity     = "alert_severity"
	SettingDebug             = "debug"
	SettingElasticURLs       = "elasticsearch.urls"
	SettingElasticUser       = "elasticsearch.username"
	SettingElasticPassword   = "elasticsearch.password"
	SettingPasswordFile      = "elasticsearch.password_file"
	SettingAPIKeyFile        = "elasticsearch.api_key_file"
	SettingCAFile            = "elasticsearch.ca_file"
	SettingIndexLayout       = "elasticsearch.index_layout"
	SettingTenant            = "elasticsearch.tenant"
	SettingQuerySize         = "elasticsearch.query_size"
	SettingScrollTime        = "elasticsearch.scroll_time"
	SettingMaxSeries         = "metrics.max_series_per_detector"
	SettingSilences          = "silences"
	defaultMaxSeries         = 10000
	defaultElasticURL        = "http://localhost:9200"
	originDefault            = "default"
	maskedValue              = "<secret>"
	detectorSettingPrefix    = "detector."
	noDetectorFlagPrefix     = "no-detector."
	detectorFlagPrefix       = "detector."
	flagListSeparator        = ","
	globalAlertsAbsentOrigin = "globalalerts: no AnomalyDetection alert for it"
)

// DetectorSetting names a detector's setting: detector.port_scan.threshold,
// detector.port_scan.enabled.
func DetectorSetting(detector, key string) string {
	return detectorSettingPrefix + detector + "." + key
}
