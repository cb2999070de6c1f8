package detect

func init() {
	Register(Info{
		Name:   "bytes_out",
		Family: Both,
		Mitre: &Mitre{AttackVector: "network", Tactic: "exfiltration", IDs: []string{"T1041", "T1048"},
			Mitigations: []string{"restrict the workload's egress", "inspect where the bytes went"}},
		Logs: []string{"flows"},
		Unit: UnitBytes,
		// Calico's manifests shipped bytes_in and bytes_out disabled
		// (AD_DISABLED_JOBS).
		DefaultEnabled: false,
		Help:           "Outbound bytes per workload (exfiltration): a pod against the other pods of its replica set, a replica set against its history in the cluster.",
		Params: []Param{
			{Key: "c", Env: "AD_SeasonalAD_c", Default: "500",
				Help: "alert bound Q3 + c·IQR of the learned spread (ADTK's SeasonalAD); higher means fewer alerts"},
			{Key: "min_size_for_train", Env: "AD_BytesOutModel_min_size_for_train", Default: "1000",
				Help: "pod windows learned before the model judges"},
		},
		Scope: NamespaceScope,
		New: func(o Options) (Detector, error) {
			return newReplicaBytes("bytes_out", o, "bytes_out", "src", "source", "sent")
		},
	})
}
