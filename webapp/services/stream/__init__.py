"""Following a growing CSV file: its segment, its checkpoint and the follower."""
