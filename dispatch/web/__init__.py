"""The three front ends (worker form, team inbox, command map), served by the app itself."""
