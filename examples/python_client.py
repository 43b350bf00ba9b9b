"""nasforge.client, blocking: submit a search, follow it, print its leaderboard, keep the
best model's weights. python examples/python_client.py HOST:PORT TOKEN_FILE CA_FILE CONFIG"""

import sys
from pathlib import Path

from nasforge.client import ClientTLS, NotFound, SearchClient, outcome_name, state_name


def run(target: str, token: str, tls: ClientTLS | None, config: Path, out: Path) -> str:
    with SearchClient(target, token, tls=tls) as client:
        search_id = client.submit(config)  # a .toml/.yaml/.json file, or a dict
        for event in client.watch(search_id):  # resumes by itself if search_core restarts
            if event.HasField("candidate_finished"):
                done = event.candidate_finished
                print(done.name, outcome_name(done.outcome), done.scores.validation)
        print(search_id, state_name(client.get(search_id).state))
        board = client.leaderboard(search_id, limit=3)
        for entry in board:
            print(entry.rank, entry.candidate.name, entry.score, entry.test_score)
        try:
            print("weights:", client.download_weights(board[0].candidate.candidate_id, out))
        except NotFound as exc:  # none kept, or removed by the retention setting
            print(exc.message)
        return search_id


if __name__ == "__main__":
    target, token_file, ca_file, config = sys.argv[1:5]
    token = Path(token_file).read_text().strip()
    run(target, token, ClientTLS(ca_file=Path(ca_file)), Path(config), Path("."))
