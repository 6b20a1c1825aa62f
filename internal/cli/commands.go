package cli

// commands is every hem subcommand, in the order --help lists them. Each
// constructor lives in the cmd_<name>.go file of its area.
func commands() []*Command {
	return []*Command{
		devCommand(),
		emitCommand(),
		sqlCommand(),
		schemaPushCommand(),
		schemaCheckCommand(),
		schemaLifecycleCommand(),
		schemaListCommand(),
		schemaShowCommand(),
		schemaDiffCommand(),
		sourceListCommand(),
		sourceCheckCommand(),
		sourceStatusCommand(),
		loadCommand(),
		replayCommand(),
		restoreCommand(),
		eraseCommand(),
		keysSyncCommand(),
		archiveVerifyCommand(),
		rollupRunCommand(),
		rollupListCommand(),
		loadgenCommand(),
		sourceSampleCommand(),
		registryServeCommand(),
		collectorServeCommand(),
		processorRunCommand(),
		sourceRunCommand(),
		consoleServeCommand(),
		versionCommand(),
	}
}
