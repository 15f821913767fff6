"""The game core: player names, flat buffers, loss families, schedules, network execution, the game, its field."""
