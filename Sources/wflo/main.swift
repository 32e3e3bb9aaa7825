import WfloCLI

await Wflo.main()
