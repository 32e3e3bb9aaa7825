import WfloCLI

@main
struct WfloMain {
    static func main() async {
        await Wflo.runMain()
    }
}
