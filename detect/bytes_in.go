package detect

func init() {
	Register(Info{
		Name:   "bytes_in",
		Family: Both,
		Logs:   []string{"flows"},
		Unit:   UnitBytes,
		// Calico's manifests shipped bytes_in and bytes_out disabled
		// (AD_DISABLED_JOBS).
		DefaultEnabled: false,
		Help:           "Inbound bytes per workload: a pod against the other pods of its replica set, a replica set against its history in the cluster.",
		Params: []Param{
			{Key: "c", Env: "AD_SeasonalAD_c", Default: "500",
				Help: "alert bound Q3 + c·IQR of the learned spread (ADTK's SeasonalAD); higher means fewer alerts"},
			{Key: "min_size_for_train", Env: "AD_BytesInModel_min_size_for_train", Default: "1000",
				Help: "pod windows learned before the model judges"},
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newReplicaBytes("bytes_in", o, "bytes_in", "dst", "dest", "received")
		},
	})
}
