// kubectl-evssnap: kubectl dispatches `kubectl evssnap ...` here. Everything lives in EVSSnapCLI.
import EVSSnapCLI
import Foundation

let code = await EVSSnapMain.run(arguments: Array(CommandLine.arguments.dropFirst()), in: EVSSnapMain.liveEnvironment())
exit(code)
